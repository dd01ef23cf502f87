// Which browser pages may use this gateway: its own origin and PULSE_ALLOWED_ORIGINS (against cross-site WebSocket hijacking and CSRF).
import type { IncomingHttpHeaders } from 'node:http';

export class OriginPolicy {
  private readonly any: boolean;
  private readonly allowed: Set<string>;

  /** `origins`: exact origins, or `*` for any. */
  constructor(origins: readonly string[]) {
    this.any = origins.includes('*');
    this.allowed = new Set(origins.filter((origin) => origin !== '*'));
  }

  /**
   * True for requests without an Origin (not from a browser page: CLI, SDK in Node, curl), for
   * the gateway's own origin (the dashboard it serves), and for the allowed ones.
   */
  allows(headers: IncomingHttpHeaders): boolean {
    const origin = headers.origin;
    if (origin === undefined) return true;
    if (this.any || this.allowed.has(origin)) return true;
    return sameOrigin(origin, headers);
  }

  /** For CORS answers: the origins other than the gateway's own that may read responses. */
  corsAllows(origin: string | undefined): boolean {
    return origin !== undefined && (this.any || this.allowed.has(origin));
  }

  /** corsAllows as the `origin` option of Express's and Socket.IO's CORS. */
  readonly corsOrigin = (origin: string | undefined, callback: (error: Error | null, allow?: boolean) => void): void => callback(null, this.corsAllows(origin));
}

/**
 * Whether `origin` names the host the request was sent to. Behind a proxy that rewrites Host,
 * X-Forwarded-Host is taken instead; a Host without a port (proxies often drop it) is compared
 * by host name.
 */
function sameOrigin(origin: string, headers: IncomingHttpHeaders): boolean {
  if (!URL.canParse(origin)) return false;
  const url = new URL(origin);
  const forwarded = headers['x-forwarded-host'];
  const hosts = [headers.host, ...(Array.isArray(forwarded) ? forwarded : (forwarded ?? '').split(','))].map((host) => host?.trim().toLowerCase()).filter(Boolean) as string[];
  return hosts.some((host) => host === url.host || (!host.includes(':') && host === url.hostname));
}

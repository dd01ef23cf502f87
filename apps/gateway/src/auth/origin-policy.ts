// Which browser pages may use this gateway, and under which host names (against cross-site WebSocket hijacking, CSRF and DNS rebinding).
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';

export interface OriginPolicyOptions {
  /** PULSE_ALLOWED_ORIGINS: exact origins, or `*` for any (never `null`). */
  allowedOrigins: readonly string[];
  /** PULSE_PUBLIC_URL: the URLs browsers reach the gateway at; their origins are its own. @default none */
  publicUrls?: readonly string[];
  /** PULSE_ALLOWED_HOSTS: further host names accepted in Host when `checkHost` is on. @default none */
  allowedHosts?: readonly string[];
  /** PULSE_TRUSTED_PROXIES: addresses or CIDR ranges whose X-Forwarded-Host is believed. @default none */
  trustedProxies?: readonly string[];
  /**
   * Refuse requests whose Host is not loopback, an IP address, or a configured host name (auth
   * off: a DNS-rebinding page would otherwise read and write as anyone). @default false
   */
  checkHost?: boolean;
}

/** localhost, *.localhost, 127.0.0.0/8 and ::1: names no other site can make a browser send. */
function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/** An IP address as the host: a DNS rebinding page's origin is a name, never an address. */
function isAddress(hostname: string): boolean {
  return isIP(hostname.replace(/^\[(.*)\]$/, '$1')) !== 0;
}

/** The host name of a Host header value (`name:port`, `[v6]:port`), lower-cased; null when unreadable. */
function hostnameOf(host: string): string | null {
  return URL.canParse(`http://${host}`) ? new URL(`http://${host}`).hostname : null;
}

export class OriginPolicy {
  private readonly any: boolean;
  private readonly allowed: Set<string>;
  private readonly publicOrigins: Set<string>;
  private readonly hosts: Set<string>;
  private readonly proxies = new BlockList();
  private readonly anyProxy: boolean;
  private readonly checkHost: boolean;

  constructor(options: OriginPolicyOptions) {
    this.any = options.allowedOrigins.includes('*');
    this.allowed = new Set(options.allowedOrigins.filter((origin) => origin !== '*'));
    this.publicOrigins = new Set((options.publicUrls ?? []).map((url) => new URL(url).origin));
    this.hosts = new Set([
      ...(options.publicUrls ?? []).map((url) => new URL(url).hostname),
      ...(options.allowedHosts ?? []),
    ]);
    const proxies = options.trustedProxies ?? [];
    this.anyProxy = proxies.length > 0;
    for (const entry of proxies) {
      const [address = '', bits] = entry.split('/');
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.proxies.addAddress(address, type);
      else this.proxies.addSubnet(address, Number(bits), type);
    }
    this.checkHost = options.checkHost ?? false;
  }

  /**
   * Why a request may not proceed, or null when it may. Requests without an Origin (not from a
   * browser page: CLI, SDK in Node, curl) pass the origin check; the gateway's own origin (a
   * loopback or IP-address host, exactly as requested, port included, or a PULSE_PUBLIC_URL) and
   * the allowed ones pass; `Origin: null` (sandboxed frames, file pages) never does, not even
   * with `*`. `remoteAddress` is the peer: only a trusted proxy's X-Forwarded-Host counts.
   */
  problem(headers: IncomingHttpHeaders, remoteAddress?: string): string | null {
    const host = this.hostOf(headers, remoteAddress);
    if (this.checkHost && host !== undefined && !this.hostServed(host)) {
      return `host ${host} is not one this gateway serves with auth off: only loopback and IP-address hosts, and those of PULSE_PUBLIC_URL and PULSE_ALLOWED_HOSTS (against DNS rebinding)`;
    }
    const origin = headers.origin;
    if (origin === undefined) return null;
    if (origin === 'null')
      return 'origin null (a sandboxed frame or a local file) is never allowed, whatever PULSE_ALLOWED_ORIGINS says';
    if (this.any || this.allowed.has(origin) || this.publicOrigins.has(origin) || this.isOwnOrigin(origin, host))
      return null;
    return `origin ${origin} is not allowed; add it to PULSE_ALLOWED_ORIGINS (or, if it is the address browsers use for this gateway, to PULSE_PUBLIC_URL)`;
  }

  /** problem() === null. */
  allows(headers: IncomingHttpHeaders, remoteAddress?: string): boolean {
    return this.problem(headers, remoteAddress) === null;
  }

  /** For CORS answers: the origins other than the gateway's own that may read responses. */
  corsAllows(origin: string | undefined): boolean {
    return (
      origin !== undefined &&
      origin !== 'null' &&
      (this.any || this.allowed.has(origin) || this.publicOrigins.has(origin))
    );
  }

  /** corsAllows as the `origin` option of Express's and Socket.IO's CORS. */
  readonly corsOrigin = (origin: string | undefined, callback: (error: Error | null, allow?: boolean) => void): void =>
    callback(null, this.corsAllows(origin));

  /** The host the client asked for: X-Forwarded-Host from a trusted proxy, else Host; lower-cased. */
  private hostOf(headers: IncomingHttpHeaders, remoteAddress: string | undefined): string | undefined {
    const forwarded = headers['x-forwarded-host'];
    if (forwarded !== undefined && this.trusted(remoteAddress)) {
      const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
      if (first) return first.toLowerCase();
    }
    return headers.host?.trim().toLowerCase();
  }

  private trusted(remoteAddress: string | undefined): boolean {
    if (!this.anyProxy || !remoteAddress) return false;
    const address = remoteAddress.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
    return this.proxies.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }

  private hostServed(host: string): boolean {
    const hostname = hostnameOf(host);
    return hostname !== null && (isLoopback(hostname) || isAddress(hostname) || this.hosts.has(hostname));
  }

  /**
   * The page came from the very host:port the request was sent to, and that host is loopback or
   * an IP address: no other site can be served under those. A host name (a page of a rebinding
   * domain, or another port behind a proxy that dropped it) is the gateway's own only through
   * PULSE_PUBLIC_URL.
   */
  private isOwnOrigin(origin: string, host: string | undefined): boolean {
    if (host === undefined || !URL.canParse(origin)) return false;
    const url = new URL(origin);
    if (!isLoopback(url.hostname) && !isAddress(url.hostname)) return false;
    const asked = URL.canParse(`${url.protocol}//${host}`) ? new URL(`${url.protocol}//${host}`).host : null;
    return asked === url.host;
  }
}

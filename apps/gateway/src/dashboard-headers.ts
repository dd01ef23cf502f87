// The security headers of the dashboard's files: the same the nginx config (deploy/nginx/pulse.conf) sends in front of it.

/**
 * The dashboard's Content-Security-Policy: its own scripts and styles only (no inline script, no
 * eval), images from itself or data: URLs (its icon), connections to its own origin, no frames
 * around it. deploy/nginx/pulse.conf sends exactly this (test/nginx.e2e-spec.ts compares them).
 */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * Headers for every file of the dashboard. `gatewayOrigins` (PULSE_PUBLIC_URL) may also be
 * connected to (a page given `?gateways=` fails over between them), over HTTP and WebSocket.
 */
export function dashboardHeaders(gatewayOrigins: readonly string[] = []): Record<string, string> {
  const extra = gatewayOrigins.flatMap((origin) => [origin, origin.replace(/^http/, 'ws')]);
  return {
    'Content-Security-Policy':
      extra.length === 0
        ? DASHBOARD_CSP
        : DASHBOARD_CSP.replace("connect-src 'self'", `connect-src 'self' ${extra.join(' ')}`),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
  };
}

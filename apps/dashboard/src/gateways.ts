// Which gateways the page uses, and which of them get its token: the page's own origin only.

/**
 * The page's origin first, then `?gateways=url1,url2` (the SDK moves to the next one when a
 * gateway goes away). While the page holds a token, gateways of other origins are left out: a
 * `?gateways=` link must not be able to carry the token elsewhere (see `tokenFor`).
 */
export function gatewayUrls(param: string | null, page: { origin: string; href: string }, hasToken: boolean): string[] {
  const urls = [page.origin];
  for (const part of (param ?? '').split(',')) {
    if (!part.trim()) continue;
    if (!URL.canParse(part.trim(), page.href)) {
      console.warn(`Pulse: ignoring gateway URL ${JSON.stringify(part)}`);
      continue;
    }
    const url = new URL(part.trim(), page.href);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    if (hasToken && url.origin !== page.origin) {
      console.warn(`Pulse: ignoring gateway ${url.origin}: this page sends its token to ${page.origin} only`);
      continue;
    }
    urls.push(url.origin);
  }
  return [...new Set(urls)];
}

/** The token to send to `gateway`: the page's, to the page's own origin only (the gateway that served it vouches for no other). */
export function tokenFor(gateway: string, pageOrigin: string, token: string | null): string | null {
  return token !== null && URL.canParse(gateway) && new URL(gateway).origin === pageOrigin ? token : null;
}

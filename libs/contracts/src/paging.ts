// Paged REST lists (GET /api/v1/topics): the next page is named by a `Link: <path>; rel="next"` header (RFC 8288).

/** The path of the next page in a Link header, or null when there is none (the last page). */
export function nextPageLink(link: string | null | undefined): string | null {
  for (const part of (link ?? '').split(',')) {
    const match = /^\s*<([^>]*)>\s*;(?:[^;]*;)*\s*rel="?next"?\s*(?:;|$)/.exec(part);
    if (match) return match[1]!;
  }
  return null;
}

/** Most pages a client follows before it stops and says so (a server that never ends its list). */
export const MAX_PAGES = 1000;

// The page's access token when the gateways require one: from a `#token=` link (then kept for the tab in sessionStorage), or asked for.

const KEY = 'pulse.token';

/** Takes a token from `#token=<token>` (and removes it from the address bar and history), or the one kept for this tab. */
export function takeToken(): string | null {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get('token');
  if (given) {
    sessionStorage.setItem(KEY, given);
    fragment.delete('token');
    const url = new URL(location.href);
    url.hash = fragment.toString();
    history.replaceState(null, '', url);
  }
  return sessionStorage.getItem(KEY);
}

/** Asks the person for a token (after the gateway refused the one it had, or none); keeps it for the tab. */
export function askForToken(why: string): string | null {
  const answer = window.prompt(`${why}\n\nPaste a Pulse token (pulse token --sub <you> --role viewer):`)?.trim();
  if (!answer) return null;
  sessionStorage.setItem(KEY, answer);
  return answer;
}

/**
 * The `role` claim of a JWT, read without checking its signature: only to show or hide admin
 * actions (the gateway checks the token on every request and decides). Null when unreadable.
 */
export function tokenRole(token: string): string | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const role = (JSON.parse(json) as { role?: unknown }).role;
    return typeof role === 'string' ? role : null;
  } catch {
    return null;
  }
}

/** Whether the page offers admin actions: with no token the gateways run without auth (everyone is admin), else the token's role says. */
export function mayAdminister(token: string | null): boolean {
  return token === null || tokenRole(token) === 'admin';
}

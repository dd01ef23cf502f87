// Posts ingest batches to the gateways' REST API, failing over between them in order.
import type { IngestBody } from '#pulse/contracts';
import type { IngestPost } from './demo-fleet.js';

export interface HttpPosterOptions {
  /** Time allowed for one request to one gateway, answer included. @default 5000 */
  timeoutMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** A bearer token for each post, when the gateways require one. @default none */
  token?: () => Promise<string>;
}

// Enough of an error body to see the field errors without flooding the log.
const MAX_BODY_CHARS = 500;

/**
 * A `post` for `DemoFleet` that sends `POST <url>/api/v1/topics/<topic>/events`. It starts with
 * the gateway that last answered; on a network error, a timeout or a 5xx it tries the next one,
 * in order, and remembers the one that worked. A 4xx means the request itself is wrong, so it
 * throws at once with the status and the answer's body. When every gateway failed it throws
 * naming each failure.
 */
export function createHttpPoster(
  urls: readonly string[],
  log: { warn(msg: string): void },
  options: HttpPosterOptions = {},
): IngestPost {
  if (urls.length === 0) throw new Error('createHttpPoster needs at least one gateway URL');
  const bases = urls.map((url) => url.replace(/\/+$/, ''));
  const timeoutMs = options.timeoutMs ?? 5_000;
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  let current = 0;

  return async (topic: string, body: IngestBody): Promise<void> => {
    const payload = JSON.stringify(body);
    const authorization: Record<string, string> = options.token
      ? { authorization: `Bearer ${await options.token()}` }
      : {};
    const failures: string[] = [];
    for (let tried = 0; tried < bases.length; tried += 1) {
      const index = (current + tried) % bases.length;
      const endpoint = `${bases[index]!}/api/v1/topics/${encodeURIComponent(topic)}/events`;
      let response: Response;
      let text: string;
      try {
        response = await doFetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...authorization },
          body: payload,
          signal: AbortSignal.timeout(timeoutMs),
        });
        // Read in full, also on success, so the connection is freed for the next post.
        text = await response.text();
      } catch (error) {
        failures.push(`${endpoint}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      if (response.status >= 500) {
        failures.push(`${endpoint}: ${response.status} ${text.slice(0, MAX_BODY_CHARS)}`);
        continue;
      }
      if (!response.ok)
        throw new Error(`POST ${endpoint} answered ${response.status}: ${text.slice(0, MAX_BODY_CHARS)}`);
      if (index !== current) {
        log.warn(`demo fleet: now posting to ${bases[index]!} (failed: ${failures.join('; ')})`);
        current = index;
      }
      return;
    }
    throw new Error(`no gateway accepted the events: ${failures.join('; ')}`);
  };
}

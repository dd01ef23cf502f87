// REST calls to the gateways with failover: the --url list is tried in order until one answers.
import { MAX_PAGES, nextPageLink, type ErrorBody } from '#pulse/contracts';
import { CliError } from './errors.js';

export interface RestClientOptions {
  /** Gateway base URLs, tried in this order. */
  urls: string[];
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** How long to wait for a gateway's response headers before trying the next one. @default 10000 */
  timeoutMs?: number;
  /** Aborts every request, body reads included (Ctrl-C). */
  signal?: AbortSignal;
}

export interface RequestOptions {
  body?: unknown;
  /** Ask only this gateway (no failover). */
  url?: string;
}

/** A gateway answered with an error status; `body` is Pulse's error body when it sent one. */
export class HttpError extends CliError {
  constructor(
    readonly status: number,
    readonly body: ErrorBody | null,
    readonly url: string,
  ) {
    super(body?.message ? `${body.message} (HTTP ${status} from ${url})` : `HTTP ${status} from ${url}`);
    this.name = 'HttpError';
  }
}

/** No gateway answered. */
export class UnreachableError extends CliError {
  constructor(readonly failures: { url: string; reason: string }[]) {
    const list = failures.map((f) => `${f.url} (${f.reason})`).join(', ');
    const what = failures.length === 1 ? `cannot reach ${list}` : `cannot reach any gateway: ${list}`;
    super(`${what}: is Pulse running? Start it with npm start, or point --url at a running gateway.`);
    this.name = 'UnreachableError';
  }
}

/** Errors that prove the request never reached the gateway: safe to send again elsewhere, even a POST. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

function errorCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
  return cause?.code ?? cause?.errors?.[0]?.code;
}

/** A short human reason for a failed fetch. */
export function describeFetchError(error: unknown, timeoutMs: number): string {
  if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError')
    return `no answer within ${timeoutMs / 1000} s`;
  const code = errorCode(error);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    case undefined:
      return ((error as { cause?: Error }).cause ?? (error as Error)).message;
    default:
      return code;
  }
}

export class RestClient {
  readonly urls: string[];
  private readonly token?: string;
  private readonly timeoutMs: number;
  private readonly signal?: AbortSignal;

  constructor(options: RestClientOptions) {
    if (options.urls.length === 0) throw new Error('RestClient needs at least one gateway URL');
    this.urls = options.urls;
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.signal = options.signal;
  }

  /** `text` without the token (an error of fetch's may quote the header that holds it). */
  private redact(text: string): string {
    return this.token ? text.replaceAll(this.token, '***') : text;
  }

  /**
   * Sends a request to the first gateway that answers. A GET moves on when a gateway cannot be
   * reached, does not answer in time, or answers 502-504; a POST moves on only when it provably
   * was not sent (connection refused, unknown host), so it is never appended twice.
   * Resolves with the response (any status) of the gateway that answered; throws UnreachableError.
   */
  async send(
    method: 'GET' | 'POST',
    path: string,
    options: RequestOptions = {},
  ): Promise<{ url: string; response: Response }> {
    const failures: { url: string; reason: string }[] = [];
    let lastAnswer: { url: string; response: Response } | null = null;
    for (const url of options.url ? [options.url] : this.urls) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), this.timeoutMs);
      try {
        const headers: Record<string, string> = { accept: 'application/json' };
        if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
        if (options.body !== undefined) headers['content-type'] = 'application/json';
        const response = await fetch(`${url}${path}`, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: this.signal ? AbortSignal.any([controller.signal, this.signal]) : controller.signal,
        });
        if (method === 'GET' && response.status >= 502 && response.status <= 504) {
          lastAnswer = { url, response };
          continue;
        }
        return { url, response };
      } catch (error) {
        if (this.signal?.aborted) throw error;
        // fetch refused to build the request (a header it cannot carry, a URL with credentials): a
        // TypeError without the network failure as its cause. Nothing was sent; no gateway will take it.
        // (By name: under a test runner's vm, fetch's TypeError is another realm's.)
        if ((error as Error)?.name === 'TypeError' && (error as Error).cause === undefined)
          throw new CliError(`${method} ${path} could not be sent to ${url}: ${this.redact((error as Error).message)}`);
        const code = errorCode(error);
        failures.push({ url, reason: describeFetchError(error, this.timeoutMs) });
        // A POST that may have arrived is not sent again: it could be applied twice.
        if (method === 'POST' && !(code && NOT_SENT.has(code))) {
          throw new CliError(
            `${url} did not answer ${method} ${path} (${failures.at(-1)!.reason}); it may or may not have been applied: check before sending it again`,
          );
        }
      } finally {
        // The timeout covers the wait for the headers only: a streamed body may take longer.
        clearTimeout(timer);
      }
    }
    if (lastAnswer) return lastAnswer;
    throw new UnreachableError(failures);
  }

  /** Sends a request and parses a JSON success body; throws HttpError for an error status. */
  async json<T>(method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.jsonAnswer<T>(method, path, options)).body;
  }

  /** Every item of a paged list (an array per page), following each page's `Link: <…>; rel="next"`. */
  async allPages<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let next: string | null = path;
    for (let pages = 0; next !== null; pages++) {
      if (pages === MAX_PAGES) throw new CliError(`${path}: still more after ${MAX_PAGES} pages; stopped`);
      const { body, response } = await this.jsonAnswer<T[]>('GET', next);
      items.push(...body);
      next = nextPageLink(response.headers.get('link'));
    }
    return items;
  }

  private async jsonAnswer<T>(
    method: 'GET' | 'POST',
    path: string,
    options: RequestOptions = {},
  ): Promise<{ body: T; response: Response }> {
    const { url, response } = await this.send(method, path, options);
    const text = await response.text();
    const body = parseBody(text);
    if (!response.ok) throw new HttpError(response.status, isErrorBody(body) ? body : null, url);
    if (body === undefined)
      throw new CliError(`${url} answered ${path} with something that is not JSON: ${text.slice(0, 200)}`);
    return { body: body as T, response };
  }
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isErrorBody(body: unknown): body is ErrorBody {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as ErrorBody).ok === false &&
    typeof (body as ErrorBody).message === 'string'
  );
}

/** The lines of a streamed (NDJSON) body as they arrive, without the newlines; blank lines skipped. */
export async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) yield line;
    }
  }
  const rest = (buffered + decoder.decode()).trim();
  if (rest) yield rest;
}

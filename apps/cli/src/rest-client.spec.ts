// REST failover against real HTTP servers: which failures move on to the next gateway, which never do, and what the user is told.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CliError } from './errors.js';
import { HttpError, lines, RestClient, UnreachableError } from './rest-client.js';

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

/** A real HTTP server on a free port; records what it was asked. */
async function serve(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ url: string; requests: { method: string; path: string; authorization?: string; body: string }[] }> {
  const requests: { method: string; path: string; authorization?: string; body: string }[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      requests.push({
        method: request.method!,
        path: request.url!,
        authorization: request.headers.authorization,
        body,
      });
      handler(request, response);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** A URL nothing listens on. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const json = (status: number, body: unknown) => (_: IncomingMessage, response: ServerResponse) => {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

describe('RestClient', () => {
  it('follows a paged list through its Link headers to the last page', async () => {
    const pages: Record<string, { body: unknown; next?: string }> = {
      '/api/v1/topics?limit=2': { body: [{ topic: 'a' }, { topic: 'b' }], next: '/api/v1/topics?cursor=b&limit=2' },
      '/api/v1/topics?cursor=b&limit=2': { body: [{ topic: 'c' }] },
    };
    const live = await serve((request, response) => {
      const page = pages[request.url!]!;
      response
        .writeHead(200, {
          'content-type': 'application/json',
          ...(page.next ? { link: `<${page.next}>; rel="next"` } : {}),
        })
        .end(JSON.stringify(page.body));
    });
    const rest = new RestClient({ urls: [live.url] });
    await expect(rest.allPages('/api/v1/topics?limit=2')).resolves.toEqual([
      { topic: 'a' },
      { topic: 'b' },
      { topic: 'c' },
    ]);
    expect(live.requests.map((request) => request.path)).toEqual(Object.keys(pages));
  });

  it('moves past a gateway that refuses connections, in --url order', async () => {
    const dead = await deadUrl();
    const live = await serve(json(200, [{ topic: 'demo' }]));
    const rest = new RestClient({ urls: [dead, live.url], token: 's3cret' });
    await expect(rest.json('GET', '/api/v1/topics')).resolves.toEqual([{ topic: 'demo' }]);
    expect(live.requests).toEqual([
      { method: 'GET', path: '/api/v1/topics', authorization: 'Bearer s3cret', body: '' },
    ]);
  });

  it('moves a GET past a gateway that answers 503 or not at all', async () => {
    const unavailable = await serve(json(503, { ok: false, code: 'UNAVAILABLE', message: 'redis is down' }));
    const silent = await serve(() => undefined);
    const live = await serve(json(200, { ok: true }));
    const rest = new RestClient({ urls: [unavailable.url, silent.url, live.url], timeoutMs: 300 });
    await expect(rest.json('GET', '/readyz')).resolves.toEqual({ ok: true });
    expect([unavailable.requests.length, silent.requests.length, live.requests.length]).toEqual([1, 1, 1]);
  });

  it("reports the last gateway's error when every one that answered failed", async () => {
    const unavailable = await serve(json(503, { ok: false, code: 'UNAVAILABLE', message: 'redis is down' }));
    const rest = new RestClient({ urls: [await deadUrl(), unavailable.url] });
    const error = await rest.json('GET', '/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(503);
    expect((error as HttpError).message).toBe(`redis is down (HTTP 503 from ${unavailable.url})`);
  });

  it('sends a POST to the next gateway only when the first one provably did not get it', async () => {
    const live = await serve(json(201, { seqs: [1] }));
    const refused = new RestClient({ urls: [await deadUrl(), live.url] });
    await expect(refused.json('POST', '/e', { body: { a: 1 } })).resolves.toEqual({ seqs: [1] });
    expect(live.requests.map((r) => r.body)).toEqual(['{"a":1}']);

    // The connection drops after the request was sent: it may have been applied, so no retry.
    const dropping = await serve((request) => request.socket.destroy());
    const other = await serve(json(201, { seqs: [2] }));
    const rest = new RestClient({ urls: [dropping.url, other.url] });
    const error = await rest.json('POST', '/e', { body: { a: 2 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as Error).message).toContain('it may or may not have been applied');
    expect(other.requests).toEqual([]);
  });

  it('says a request fetch cannot build could not be sent, not that the gateway cannot be reached', async () => {
    const live = await serve(json(201, { seqs: [1] }));
    const rest = new RestClient({ urls: [live.url], token: 'two\nlines' });
    const error = await rest.json('POST', '/e', { body: { a: 1 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as Error).message).toMatch(new RegExp(`^POST /e could not be sent to ${live.url}: `));
    expect((error as Error).message).not.toContain('two\nlines');
    expect(live.requests).toEqual([]);
  });

  it('says what to do when no gateway can be reached', async () => {
    const [a, b] = [await deadUrl(), await deadUrl()];
    await expect(new RestClient({ urls: [a] }).json('GET', '/x')).rejects.toThrow(
      `cannot reach ${a} (connection refused): is Pulse running? Start it with npm start`,
    );
    const error = await new RestClient({ urls: [a, b] }).json('GET', '/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreachableError);
    expect((error as Error).message).toBe(
      `cannot reach any gateway: ${a} (connection refused), ${b} (connection refused): is Pulse running? Start it with npm start, or point --url at a running gateway.`,
    );
  });

  it('turns an error status into an HttpError carrying the Pulse error body', async () => {
    const missing = await serve(json(404, { ok: false, code: 'NOT_FOUND', message: 'topic x has no events' }));
    const error = await new RestClient({ urls: [missing.url] })
      .json('GET', '/api/v1/topics/x/snapshot')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).body).toEqual({ ok: false, code: 'NOT_FOUND', message: 'topic x has no events' });
  });

  it('stops at once when interrupted', async () => {
    const silent = await serve(() => undefined);
    const controller = new AbortController();
    const pending = new RestClient({ urls: [silent.url], signal: controller.signal }).json('GET', '/slow');
    controller.abort();
    await expect(pending).rejects.toThrow();
  });
});

describe('lines', () => {
  it('splits a streamed body into lines, however the chunks fall', async () => {
    const encoder = new TextEncoder();
    const chunks = ['{"folded":1', '000,"head":2000}\n{"fol', 'ded":2000,"head":2000}\n\n{"seq":2000,"drift":[]}'];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
        controller.close();
      },
    });
    const seen: string[] = [];
    for await (const line of lines(body)) seen.push(line);
    expect(seen).toEqual(['{"folded":1000,"head":2000}', '{"folded":2000,"head":2000}', '{"seq":2000,"drift":[]}']);
  });
});

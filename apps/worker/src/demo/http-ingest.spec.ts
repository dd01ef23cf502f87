// The HTTP poster against real local servers: failover in order, sticking to what works, 4xx errors.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { IngestBody } from '#pulse/contracts';
import { createHttpPoster } from './http-ingest.js';

interface Received {
  url: string;
  body: unknown;
}

const servers: Server[] = [];

/** A real HTTP server on a free port answering with `reply`; records what it received. */
async function gateway(reply: (req: IncomingMessage) => { status: number; body: string }) {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ url: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      const { status, body } = reply(req);
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** A URL nothing listens on: a server is started to learn a free port, then closed. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const body: IngestBody = {
  events: [
    { type: 'instance.heartbeat', data: { instanceId: 'demo-01', status: 'idle' }, idempotencyKey: 'abc:demo-01:1' },
  ],
};

describe('createHttpPoster', () => {
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  });

  it('posts the body as JSON to the topic endpoint', async () => {
    const ok = await gateway(() => ({ status: 201, body: '{"seqs":[1]}' }));
    const warnings: string[] = [];
    await createHttpPoster([`${ok.url}/`], { warn: (msg) => warnings.push(msg) })('demo', body);
    expect(ok.received).toEqual([{ url: '/api/v1/topics/demo/events', body }]);
    expect(warnings).toEqual([]);
  });

  it('fails over on a network error or a 5xx, in order, and remembers the gateway that works', async () => {
    const dead = await deadUrl();
    const unavailable = await gateway(() => ({ status: 503, body: '{"code":"UNAVAILABLE"}' }));
    const ok = await gateway(() => ({ status: 201, body: '{"seqs":[1]}' }));
    const warnings: string[] = [];
    const post = createHttpPoster([dead, unavailable.url, ok.url], { warn: (msg) => warnings.push(msg) });

    await post('demo', body);
    expect(unavailable.received).toHaveLength(1);
    expect(ok.received).toHaveLength(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(ok.url);
    expect(warnings[0]).toContain('503');

    await post('demo', body);
    expect(unavailable.received).toHaveLength(1);
    expect(ok.received).toHaveLength(2);
    expect(warnings).toHaveLength(1);
  });

  it('throws naming the status and the answer on a 4xx, without trying the next gateway', async () => {
    const bad = await gateway(() => ({
      status: 400,
      body: '{"code":"BAD_REQUEST","message":"events.0.data.instanceId: expected 1-128 chars"}',
    }));
    const ok = await gateway(() => ({ status: 201, body: '{"seqs":[1]}' }));
    const post = createHttpPoster([bad.url, ok.url], { warn: () => undefined });
    await expect(post('demo', body)).rejects.toThrow(/400.*BAD_REQUEST.*instanceId/);
    expect(ok.received).toHaveLength(0);
  });

  it('throws naming every gateway when none accepts the events', async () => {
    const dead = await deadUrl();
    const failing = await gateway(() => ({ status: 500, body: 'boom' }));
    const post = createHttpPoster([dead, failing.url], { warn: () => undefined });
    await expect(post('demo', body)).rejects.toThrow(new RegExp(`${dead}.*${failing.url}.*500 boom`));
  });

  it('gives up on a gateway that does not answer within the timeout', async () => {
    const silent = createServer(() => undefined);
    servers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const ok = await gateway(() => ({ status: 201, body: '{"seqs":[1]}' }));
    const post = createHttpPoster(
      [`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, ok.url],
      { warn: () => undefined },
      { timeoutMs: 200 },
    );
    await post('demo', body);
    expect(ok.received).toHaveLength(1);
    silent.closeAllConnections();
  });
});

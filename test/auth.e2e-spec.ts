// Access control of built gateways: tokens on REST and sockets, roles and topics, origins, admin endpoints and Bull Board, limits, and logs without tokens.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { chromium } from 'playwright-core';
import { Server } from 'socket.io';
import type { Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { mintToken, type MintOptions } from '#pulse/auth';
import type { ErrorBody } from '#pulse/contracts';
import { PROJECT_ROOT } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { handshake } from './support/clients.js';
import { poll, within } from './support/wait.js';

const heartbeat = (instanceId: string) => ({ type: 'instance.heartbeat' as const, data: { instanceId } });

const suffix = randomUUID().slice(0, 8);
const OPEN = `open-${suffix}`;
const SECRET_TOPIC = `secret-${suffix}`;
const ALLOWED_ORIGIN = 'http://allowed.example';

let pulse: PulseTestStack;

/** Every token this suite minted: none may ever show up in a log line. */
const minted = new Set<string>();
async function token(options: MintOptions): Promise<string> {
  const value = await pulse.token(options);
  minted.add(value);
  return value;
}

async function rest(
  path: string,
  init: RequestInit & { token?: string; url?: string } = {},
): Promise<{ status: number; body: ErrorBody & Record<string, unknown>; headers: Headers }> {
  const headers = new Headers(init.headers);
  if (init.token !== undefined) headers.set('authorization', `Bearer ${init.token}`);
  if (init.body) headers.set('content-type', 'application/json');
  const response = await fetch(`${init.url ?? pulse.urls[0]}${path}`, { ...init, headers });
  const text = await response.text();
  return {
    status: response.status,
    body: (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : { text }) as ErrorBody &
      Record<string, unknown>,
    headers: response.headers,
  };
}

const ingest = (_topic: string) => ({ method: 'POST', body: JSON.stringify({ events: [heartbeat('web-1')] }) });

/** Opens a raw socket and resolves once it is connected, or with the refusal of its handshake. */
/** Of a flood's `answers`, `passed` were answered `okStatus`, and `refused` 429 RATE_LIMITED with a Retry-After. */
async function expectCutOff(answers: Response[], okStatus: number, passed: number, refused: number): Promise<void> {
  const statuses = answers.map((answer) => answer.status);
  expect(statuses.filter((status) => status === okStatus)).toHaveLength(passed);
  expect(statuses.filter((status) => status === 429)).toHaveLength(refused);
  const limited = answers.find((answer) => answer.status === 429)!;
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await limited.json()).toMatchObject({ ok: false, code: 'RATE_LIMITED', reason: 'RATE_LIMITED' });
}

/** REST requests refused for their rate, from a gateway's /metrics page (0 before the first). */
function restRateLimited(page: string): number {
  return Number(/^pulse_refusals_total\{edge="rest",reason="RATE_LIMITED"\} (\d+)$/m.exec(page)?.[1] ?? 0);
}

function connect(
  url: string,
  options: { token?: unknown; origin?: string; transports?: ('websocket' | 'polling')[] } = {},
): Promise<{ socket: Socket; refused: (Error & { data?: ErrorBody }) | null }> {
  return handshake(url, {
    transports: options.transports ?? ['websocket'],
    auth: options.token === undefined ? {} : { token: options.token },
    ...(options.origin ? { extraHeaders: { origin: options.origin } } : {}),
  });
}

const sockets: Socket[] = [];
async function connected(url: string, tokenValue: string): Promise<Socket> {
  const { socket, refused } = await connect(url, { token: tokenValue });
  if (refused) throw new Error(`handshake refused: ${refused.message}`);
  sockets.push(socket);
  return socket;
}

function emit<T>(socket: Socket, event: string, payload: unknown): Promise<T> {
  return within(`the ack of ${event}`, socket.emitWithAck(event, payload) as Promise<T>);
}

beforeAll(async () => {
  pulse = await startPulse({
    gateways: 2,
    workers: 1,
    auth: true,
    env: { PULSE_ALLOWED_ORIGINS: ALLOWED_ORIGIN, LOG_LEVEL: 'log' },
  });
  await pulse.publish(OPEN, [heartbeat('web-1')]);
  await pulse.publish(SECRET_TOPIC, [heartbeat('web-1')]);
}, 90_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await pulse?.stop();
});

describe('REST with auth on', () => {
  it.each([
    ['missing', 'TOKEN_MISSING', undefined],
    ['malformed', 'TOKEN_MALFORMED', 'not-a-jwt'],
  ])('refuses a %s token with 401 %s', async (_what, reason, tokenValue) => {
    const answer = await rest(`/api/v1/topics/${OPEN}/snapshot`, tokenValue === undefined ? {} : { token: tokenValue });
    expect({ status: answer.status, code: answer.body.code, reason: answer.body.reason }).toEqual({
      status: 401,
      code: 'UNAUTHORIZED',
      reason,
    });
  });

  it('refuses an expired token with 401 TOKEN_EXPIRED, and one signed with another secret with 401 TOKEN_INVALID', async () => {
    const expired = await token({ sub: 'late', role: 'viewer', ttlSeconds: -10 });
    const forged = await mintToken({ secret: 'x'.repeat(40) }, { sub: 'mallory', role: 'admin' });
    minted.add(forged);
    expect((await rest(`/api/v1/topics/${OPEN}/snapshot`, { token: expired })).body).toMatchObject({
      code: 'UNAUTHORIZED',
      reason: 'TOKEN_EXPIRED',
    });
    expect((await rest(`/api/v1/topics/${OPEN}/snapshot`, { token: forged })).body).toMatchObject({
      code: 'UNAUTHORIZED',
      reason: 'TOKEN_INVALID',
    });
  });

  it('lets a viewer read its topics but not publish (ROLE_FORBIDDEN) nor read others (TOPIC_FORBIDDEN)', async () => {
    const viewer = await token({ sub: `viewer-${suffix}`, role: 'viewer', topics: ['open-*'] });
    expect((await rest(`/api/v1/topics/${OPEN}/snapshot`, { token: viewer })).status).toBe(200);
    const publish = await rest(`/api/v1/topics/${OPEN}/events`, { ...ingest(OPEN), token: viewer });
    expect({ status: publish.status, code: publish.body.code, reason: publish.body.reason }).toEqual({
      status: 403,
      code: 'FORBIDDEN',
      reason: 'ROLE_FORBIDDEN',
    });
    const other = await rest(`/api/v1/topics/${SECRET_TOPIC}/snapshot`, { token: viewer });
    expect({ status: other.status, reason: other.body.reason }).toEqual({ status: 403, reason: 'TOPIC_FORBIDDEN' });
    // The topic list shows only what the token covers.
    const list = (await rest('/api/v1/topics', { token: viewer })).body as unknown as { topic: string }[];
    expect(list.map((entry) => entry.topic)).toContain(OPEN);
    expect(list.map((entry) => entry.topic)).not.toContain(SECRET_TOPIC);
  });

  it('lets a publisher ingest to its topics only, and not read', async () => {
    const publisher = await token({ sub: `publisher-${suffix}`, role: 'publisher', topics: [OPEN] });
    expect((await rest(`/api/v1/topics/${OPEN}/events`, { ...ingest(OPEN), token: publisher })).status).toBe(201);
    expect(
      (await rest(`/api/v1/topics/${SECRET_TOPIC}/events`, { ...ingest(SECRET_TOPIC), token: publisher })).body.reason,
    ).toBe('TOPIC_FORBIDDEN');
    expect((await rest(`/api/v1/topics/${OPEN}/snapshot`, { token: publisher })).body.reason).toBe('ROLE_FORBIDDEN');
  });

  it('keeps the admin endpoints and /metrics to admins; health and documents stay public', async () => {
    const viewer = await token({ sub: `viewer-${suffix}`, role: 'viewer' });
    const admin = await token({ sub: `admin-${suffix}`, role: 'admin', topics: ['*'] });
    for (const path of ['/api/v1/admin/scheduler', '/api/v1/admin/presence', '/metrics']) {
      expect({ path, status: (await rest(path, { token: viewer })).status }).toEqual({ path, status: 403 });
      expect({ path, status: (await rest(path)).status }).toEqual({ path, status: 401 });
      expect({ path, status: (await rest(path, { token: admin })).status }).toEqual({ path, status: 200 });
    }
    for (const path of ['/healthz', '/readyz', '/asyncapi.json', '/docs/openapi.json'])
      expect({ path, status: (await rest(path)).status }).toEqual({ path, status: 200 });
  });

  it('answers Bull Board without credentials with 401 (and a Basic challenge), a viewer with 403, an admin with the board', async () => {
    const viewer = await token({ sub: `viewer-${suffix}`, role: 'viewer' });
    const admin = await token({ sub: `admin-${suffix}`, role: 'admin' });
    const anonymous = await rest('/admin/queues');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await rest('/admin/queues', { token: viewer })).status).toBe(403);
    const board = await rest('/admin/queues', { token: admin });
    expect(board.status).toBe(200);
    // A browser sends the token as the Basic password; the queue API behind the page answers too.
    const basic = `Basic ${Buffer.from(`ops:${admin}`).toString('base64')}`;
    const queues = await rest('/admin/queues/api/queues', { headers: { authorization: basic } });
    expect(queues.status).toBe(200);
    expect(JSON.stringify(queues.body)).toContain('pulse-monitor');
  });
});

describe('sockets with auth on', () => {
  it.each([
    ['missing', 'TOKEN_MISSING', undefined],
    ['malformed', 'TOKEN_MALFORMED', 'abc.def'],
    ['non-string', 'TOKEN_MALFORMED', 42],
  ])('refuses the handshake with a %s token: %s', async (_what, reason, tokenValue) => {
    const { refused } = await connect(pulse.urls[0]!, { token: tokenValue });
    expect(refused?.data).toMatchObject({ ok: false, code: 'UNAUTHORIZED', reason });
  });

  it('refuses an expired token at the handshake, and closes a socket when its token expires; reconnecting with it is refused', async () => {
    const expired = await token({ sub: 'late', role: 'viewer', ttlSeconds: -1 });
    expect((await connect(pulse.urls[0]!, { token: expired })).refused?.data).toMatchObject({
      code: 'UNAUTHORIZED',
      reason: 'TOKEN_EXPIRED',
    });
    const shortLived = await token({ sub: `short-${suffix}`, role: 'viewer', ttlSeconds: 2 });
    const socket = await connected(pulse.urls[1]!, shortLived);
    expect(await emit<{ ok: boolean }>(socket, 'subscribe', { topic: OPEN })).toMatchObject({ ok: true });
    const reason = await within(
      'the disconnect at expiry',
      new Promise<string>((resolve) => socket.once('disconnect', resolve)),
      15_000,
    );
    expect(reason).toBe('io server disconnect');
    expect((await connect(pulse.urls[1]!, { token: shortLived })).refused?.data).toMatchObject({
      code: 'UNAUTHORIZED',
      reason: 'TOKEN_EXPIRED',
    });
  });

  it('answers subscribe and replay on a topic the token does not cover with TOPIC_FORBIDDEN, and a publisher with ROLE_FORBIDDEN', async () => {
    const viewer = await connected(
      pulse.urls[0]!,
      await token({ sub: `viewer-${suffix}`, role: 'viewer', topics: ['open-*'] }),
    );
    expect(await emit(viewer, 'subscribe', { topic: OPEN })).toMatchObject({ ok: true, topic: OPEN });
    expect(await emit(viewer, 'subscribe', { topic: SECRET_TOPIC })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
      reason: 'TOPIC_FORBIDDEN',
    });
    expect(await emit(viewer, 'replay', { topic: SECRET_TOPIC, fromSeq: 1 })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
      reason: 'TOPIC_FORBIDDEN',
    });
    const publisher = await connected(
      pulse.urls[0]!,
      await token({ sub: `publisher-${suffix}`, role: 'publisher', topics: ['*'] }),
    );
    expect(await emit(publisher, 'subscribe', { topic: OPEN })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
      reason: 'ROLE_FORBIDDEN',
    });
  });

  it('answers requests past the bound of those waiting for their check RATE_LIMITED at once', async () => {
    const socket = await connected(pulse.urls[0]!, await token({ sub: `queue-${suffix}`, role: 'admin' }));
    // Sent in one go, more than PULSE_RATE_LIMIT_CONNECTION (200): the gateway reads them faster
    // than their checks (each asks Redis) are made.
    const answers = await Promise.all(
      Array.from({ length: 400 }, () =>
        emit<{ ok: boolean; code?: string; message?: string }>(socket, 'replay', { topic: OPEN, fromSeq: 1 }),
      ),
    );
    const waiting = answers.filter(
      (answer) => answer.code === 'RATE_LIMITED' && /are waiting/.test(answer.message ?? ''),
    );
    expect(waiting.length).toBeGreaterThan(0);
    expect(answers.filter((answer) => answer.ok).length).toBeGreaterThan(0);
    socket.close();
  });

  it('refuses a disallowed origin on a WebSocket and on a polling handshake with ORIGIN_FORBIDDEN; lets the allowed one in', async () => {
    const viewer = await token({ sub: `viewer-${suffix}`, role: 'viewer' });
    for (const transports of [['websocket'], ['polling']] as const) {
      const evil = await connect(pulse.urls[0]!, {
        token: viewer,
        origin: 'http://evil.example',
        transports: [...transports],
      });
      // With the error body, so that the SDK's onError can say why.
      expect({ transports, refused: evil.refused?.data }).toEqual({
        transports,
        refused: expect.objectContaining({ code: 'FORBIDDEN', reason: 'ORIGIN_FORBIDDEN' }),
      });
      const good = await connect(pulse.urls[0]!, {
        token: viewer,
        origin: ALLOWED_ORIGIN,
        transports: [...transports],
      });
      expect({ transports, refused: good.refused?.message ?? null }).toEqual({ transports, refused: null });
      good.socket.close();
    }
  });
});

describe('topic names before topic patterns', () => {
  it('answers a request whose topic is not a topic name BAD_REQUEST, before matching it against the token', async () => {
    const viewerToken = await token({ sub: `names-${suffix}`, role: 'viewer', topics: ['open-*'] });
    const viewer = await connected(pulse.urls[0]!, viewerToken);
    const long = `open-${'x'.repeat(100)}`;
    for (const topic of ['Not A Topic', long, 42]) {
      expect(await emit(viewer, 'subscribe', { topic })).toMatchObject({
        ok: false,
        code: 'BAD_REQUEST',
        issues: [expect.objectContaining({ path: 'topic' })],
      });
      expect(await emit(viewer, 'replay', { topic, fromSeq: 1 })).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    }
    const answer = await rest(`/api/v1/topics/${encodeURIComponent('Not A Topic')}/snapshot`, { token: viewerToken });
    expect({ status: answer.status, code: answer.body.code }).toEqual({ status: 400, code: 'BAD_REQUEST' });
  });
});

describe('the SDK with auth on', () => {
  it('asks again on its first gateway after a refused token, and never offers the token to the next one', async () => {
    const handshakes: unknown[] = [];
    const http = createServer();
    const other = new Server(http);
    other.on('connection', (socket) => handshakes.push(socket.handshake.auth));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const otherUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const expired = await token({ sub: `sdk2-${suffix}`, role: 'viewer', ttlSeconds: -1 });
    const client = pulse.client({ urls: [pulse.urls[0]!, otherUrl], token: expired, reconnectDelayMs: 20 });
    const gateways: string[] = [];
    try {
      await within(
        'three refused handshakes',
        new Promise<void>((resolve) =>
          client.onError((_error, gateway) => {
            gateways.push(gateway);
            if (gateways.length === 3) resolve();
          }),
        ),
      );
    } finally {
      client.close();
      await other.close();
    }
    expect(gateways).toEqual([pulse.urls[0], pulse.urls[0], pulse.urls[0]]);
    expect(handshakes).toEqual([]);
  });

  it('reports a refused handshake through onError and asks its token function again on every connection', async () => {
    const expired = await token({ sub: `sdk-${suffix}`, role: 'viewer', ttlSeconds: -1 });
    const valid = await token({ sub: `sdk-${suffix}`, role: 'viewer', topics: [OPEN] });
    const handed: string[] = [];
    const errors: ErrorBody[] = [];
    const client = pulse.client({
      token: () => (handed.push(handed.length === 0 ? expired : valid), handed.at(-1)!),
      reconnectDelayMs: 20,
    });
    client.onError((error) => errors.push(error));
    const snapshot = await within(
      'a snapshot after the refusal',
      new Promise((resolve) => client.subscribe(OPEN, { onSnapshot: resolve })),
    );
    expect(snapshot).toMatchObject({ topic: OPEN });
    expect(errors).toEqual([expect.objectContaining({ code: 'UNAUTHORIZED', reason: 'TOKEN_EXPIRED' })]);
    expect(handed.slice(0, 2)).toEqual([expired, valid]);
    client.close();
  });
});

describe('the CLI with auth on', () => {
  const pulseCli = (args: string[], env: Record<string, string>) =>
    promisify(execFile)(process.execPath, ['bin/pulse.js', ...args, '--url', pulse.urls[0]!], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
    }).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        stdout: error.stdout,
        stderr: error.stderr,
      }),
    );

  it('mints with `pulse token` and sends PULSE_TOKEN (or --token) with every command', async () => {
    const made = await pulseCli(['token', '--sub', `cli-${suffix}`, '--role', 'viewer', '--topic', OPEN], {
      PULSE_AUTH_SECRET: pulse.authSecret!,
    });
    expect(made.code).toBe(0);
    const cliToken = made.stdout.trim();
    minted.add(cliToken);
    const withEnv = await pulseCli(['topics', '--json'], { PULSE_TOKEN: cliToken });
    expect(withEnv.code).toBe(0);
    expect((JSON.parse(withEnv.stdout) as { topic: string }[]).map((entry) => entry.topic)).toEqual([OPEN]);
    expect((await pulseCli(['snapshot', OPEN, '--json', '--token', cliToken], {})).code).toBe(0);
    const without = await pulseCli(['topics'], {});
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('HTTP 401');
  });
});

describe('the dashboard with auth on', () => {
  it('takes a #token= link (then keeps it for the tab, out of the address bar) and asks for a token when it has none', async () => {
    const viewer = await token({ sub: `browser-${suffix}`, role: 'viewer', topics: [OPEN] });
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${pulse.urls[0]}/?topic=${OPEN}#token=${viewer}`);
      await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 15_000 });
      expect(await page.evaluate(() => [location.hash, sessionStorage.getItem('pulse.token')])).toEqual(['', viewer]);
      // A fresh tab without a token: the gateway refuses, the page asks, the answer gets it in.
      const fresh = await browser.newPage();
      const asked: string[] = [];
      fresh.on('dialog', (dialog) => {
        asked.push(dialog.message());
        void dialog.accept(viewer);
      });
      await fresh.goto(`${pulse.urls[0]}/?topic=${OPEN}`);
      await fresh.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 15_000 });
      expect(asked).toEqual([expect.stringContaining('token')]);
    } finally {
      await browser.close();
    }
  });
});

describe('origins on REST', () => {
  it('answers a disallowed origin 403 ORIGIN_FORBIDDEN, and gives the allowed one CORS headers', async () => {
    const viewer = await token({ sub: `viewer-${suffix}`, role: 'viewer' });
    const evil = await rest(`/api/v1/topics/${OPEN}/snapshot`, {
      token: viewer,
      headers: { origin: 'http://evil.example' },
    });
    expect({ status: evil.status, reason: evil.body.reason }).toEqual({ status: 403, reason: 'ORIGIN_FORBIDDEN' });
    const preflight = await fetch(`${pulse.urls[0]}/api/v1/topics/${OPEN}/events`, {
      method: 'OPTIONS',
      headers: {
        origin: ALLOWED_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    const allowed = await rest(`/api/v1/topics/${OPEN}/snapshot`, {
      token: viewer,
      headers: { origin: ALLOWED_ORIGIN },
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    // The gateway's own page (same origin) needs no list entry.
    expect(
      (await rest(`/api/v1/topics/${OPEN}/snapshot`, { token: viewer, headers: { origin: pulse.urls[0]! } })).status,
    ).toBe(200);
  });
});

describe('the ingest route (served in front of Express, through the same edge)', () => {
  let admin = '';
  beforeAll(async () => {
    admin = await token({ sub: `admin-ingest-${suffix}`, role: 'admin', topics: ['*'] });
  });
  /** The topic's head seq, as its log says. */
  const head = async (topic: string) =>
    (await rest(`/api/v1/topics/${topic}/events?after=0`, { token: admin })).body.head;

  it('answers an allowed origin with CORS headers and the request id, a disallowed one 403 with nothing appended', async () => {
    const topic = `ingest-origin-${suffix}`;
    const publisher = await token({ sub: `publisher-origin-${suffix}`, role: 'publisher', topics: [topic] });
    const allowed = await rest(`/api/v1/topics/${topic}/events`, {
      ...ingest(topic),
      token: publisher,
      headers: { origin: ALLOWED_ORIGIN, 'x-request-id': `ingest-${suffix}` },
    });
    expect(allowed.status).toBe(201);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get('access-control-expose-headers')).toBe('x-request-id,retry-after,link');
    expect(allowed.headers.get('x-request-id')).toBe(`ingest-${suffix}`);
    const evil = await rest(`/api/v1/topics/${topic}/events`, {
      ...ingest(topic),
      token: publisher,
      headers: { origin: 'http://evil.example' },
    });
    expect({ status: evil.status, reason: evil.body.reason }).toEqual({ status: 403, reason: 'ORIGIN_FORBIDDEN' });
    expect(await head(topic)).toBe(1);
  });

  it('takes the path as Express did (a trailing slash, a query, upper-case letters, percent-escapes) and leaves other methods to it', async () => {
    const topic = `ingest-path-${suffix}`;
    const publisher = await token({ sub: `publisher-path-${suffix}`, role: 'publisher', topics: [topic] });
    const escaped = topic.replace('-', '%2D');
    for (const path of [
      `/api/v1/topics/${topic}/events/`,
      `/api/v1/topics/${topic}/events?source=ignored`,
      `/API/V1/Topics/${topic}/EVENTS`,
      `/api/v1/topics/${escaped}/events`,
    ])
      expect({ path, status: (await rest(path, { ...ingest(topic), token: publisher })).status }).toEqual({
        path,
        status: 201,
      });
    expect(await head(topic)).toBe(4);
    // A bad escape is a bad topic name, named as such; PUT is not a route.
    const bad = await rest(`/api/v1/topics/%E0%A4%A/events`, { ...ingest(topic), token: publisher });
    expect({ status: bad.status, path: bad.body.issues?.[0]?.path }).toEqual({ status: 400, path: 'topic' });
    const put = await rest(`/api/v1/topics/${topic}/events`, { ...ingest(topic), method: 'PUT', token: publisher });
    expect(put.status).toBe(404);
    expect(await head(topic)).toBe(4);
  });

  it('inflates a gzip body, and names a malformed or oversized one', async () => {
    const topic = `ingest-body-${suffix}`;
    const publisher = await token({ sub: `publisher-body-${suffix}`, role: 'publisher', topics: [topic] });
    const url = `${pulse.urls[1]}/api/v1/topics/${topic}/events`;
    const headers = { authorization: `Bearer ${publisher}`, 'content-type': 'application/json' };
    const gzipped = await fetch(url, {
      method: 'POST',
      headers: { ...headers, 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ events: [heartbeat('web-1'), heartbeat('web-2')] })),
    });
    expect(await gzipped.json()).toMatchObject({ seqs: [1, 2] });
    const malformed = await fetch(url, { method: 'POST', headers, body: '{"events": [' });
    expect({ status: malformed.status, body: (await malformed.json()) as unknown }).toMatchObject({
      status: 400,
      body: { code: 'BAD_REQUEST', issues: [{ path: 'body', message: 'malformed JSON' }] },
    });
    const oversized = await fetch(url, { method: 'POST', headers, body: `{"pad":"${'x'.repeat(1_100_000)}"}` });
    expect({ status: oversized.status, body: (await oversized.json()) as unknown }).toMatchObject({
      status: 413,
      body: { code: 'BAD_REQUEST', issues: [{ path: 'body', message: 'too large' }] },
    });
    expect(await head(topic)).toBe(2);
  });
});

describe('logs', () => {
  it('carry request ids in and out, and never a token', async () => {
    const viewer = await token({ sub: `viewer-${suffix}`, role: 'viewer' });
    const requestId = `req-${suffix}`;
    // A refused request is logged (at info): its line carries the id.
    // Its query is not logged: a query may carry what should not have been put there.
    const refused = await rest(`/api/v1/topics/${SECRET_TOPIC}/events?secret=query-${suffix}`, {
      ...ingest(SECRET_TOPIC),
      token: viewer,
      headers: { 'x-request-id': requestId },
    });
    expect(refused.headers.get('x-request-id')).toBe(requestId);
    expect((await rest('/healthz')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await poll(
      'the log line of the refused request',
      () => pulse.processes.gateways[0]!.output(500).includes(requestId),
      { timeoutMs: 10_000 },
    );
    const logs = pulse.processes.gateways.map((gateway) => gateway.output(500)).join('\n');
    const line = logs.split('\n').find((entry) => entry.includes(requestId))!;
    expect(JSON.parse(line)).toMatchObject({
      level: 'info',
      req: { id: requestId, method: 'POST', url: `/api/v1/topics/${SECRET_TOPIC}/events` },
      res: { statusCode: 403 },
    });
    expect(logs).not.toContain(`query-${suffix}`);
    for (const value of minted) expect(logs.includes(value)).toBe(false);
    // Nor any part of one: a JWT signature is 43 base64url characters.
    for (const value of minted) expect(logs.includes(value.split('.')[2]!)).toBe(false);
  });
});

describe('limits (a stack of its own: small limits, a long window)', () => {
  let limited: PulseTestStack;
  let redis: Redis;

  beforeAll(async () => {
    limited = await startPulse({
      gateways: 2,
      workers: 0,
      auth: true,
      env: {
        PULSE_RATE_LIMIT_TOKEN: '10',
        PULSE_RATE_LIMIT_CONNECTION: '8',
        PULSE_RATE_LIMIT_WINDOW_S: '60',
        PULSE_MAX_SUBSCRIPTIONS: '2',
        PULSE_MAX_CONNECTIONS_PER_TOKEN: '2',
      },
    });
    redis = new Redis(limited.redisUrl);
  }, 90_000);

  afterAll(async () => {
    redis?.disconnect();
    await limited?.stop();
  });

  it('cuts a flooding token off with RATE_LIMITED on every gateway, while another token carries on', async () => {
    const flooder = await limited.token({ sub: `flooder-${suffix}`, role: 'viewer' });
    const other = await limited.token({ sub: `calm-${suffix}`, role: 'viewer' });
    const [first, second] = limited.urls as [string, string];
    const answers = await Promise.all(
      Array.from({ length: 16 }, () =>
        fetch(`${first}/api/v1/topics`, { headers: { authorization: `Bearer ${flooder}` } }),
      ),
    );
    await expectCutOff(answers, 200, 10, 6);
    // The count lives in Redis: the other gateway refuses the same token at once.
    const elsewhere = await fetch(`${second}/api/v1/topics`, { headers: { authorization: `Bearer ${flooder}` } });
    expect(elsewhere.status).toBe(429);
    const calm = await Promise.all(
      [first, second].map((url) => fetch(`${url}/api/v1/topics`, { headers: { authorization: `Bearer ${other}` } })),
    );
    expect(calm.map((answer) => answer.status)).toEqual([200, 200]);
    expect((await redis.keys('pulse:rl:*')).length).toBeGreaterThanOrEqual(2);
    // Operators see the flood being cut off.
    const admin = await limited.token({ sub: `ops-${suffix}`, role: 'admin' });
    const page = await (await fetch(`${first}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text();
    expect(restRateLimited(page)).toBe(6);
  });

  it('cuts a flooding publisher off on the ingest route too: 429 with Retry-After, counted, nothing of it appended', async () => {
    const topic = `flood-ingest-${suffix}`;
    const publisher = await limited.token({ sub: `flood-publisher-${suffix}`, role: 'publisher', topics: [topic] });
    const admin = await limited.token({ sub: `ops-ingest-${suffix}`, role: 'admin', topics: ['*'] });
    const url = limited.urls[1]!;
    const refusals = async () => {
      return restRateLimited(
        await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text(),
      );
    };
    const before = await refusals();
    const answers = await Promise.all(
      Array.from({ length: 14 }, (_, i) =>
        fetch(`${url}/api/v1/topics/${topic}/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${publisher}`, 'content-type': 'application/json' },
          body: JSON.stringify({ events: [heartbeat(`web-${i}`)] }),
        }),
      ),
    );
    await expectCutOff(answers, 201, 10, 4);
    expect(await refusals()).toBe(before + 4);
    const log = await fetch(`${url}/api/v1/topics/${topic}/events?after=0`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(((await log.json()) as { head: number }).head).toBe(10);
  });

  it('answers a flooding socket RATE_LIMITED (per connection) while another socket of the same token is served', async () => {
    const viewer = await limited.token({ sub: `socket-${suffix}`, role: 'admin' });
    await limited.publish(OPEN, [heartbeat('web-1')], await limited.token({ sub: `pub-${suffix}`, role: 'publisher' }));
    const flooding = await connectedTo(limited.urls[0]!, viewer);
    const answers = await Promise.all(
      Array.from({ length: 12 }, () =>
        emit<{ ok: boolean; code?: string }>(flooding, 'replay', { topic: OPEN, fromSeq: 1 }),
      ),
    );
    expect(answers.filter((answer) => answer.ok)).toHaveLength(8);
    expect(answers.filter((answer) => answer.code === 'RATE_LIMITED')).toHaveLength(4);
    const other = await connectedTo(limited.urls[1]!, viewer);
    expect(await emit(other, 'replay', { topic: OPEN, fromSeq: 1 })).toMatchObject({ ok: true });
    flooding.close();
    other.close();
  });

  it('limits topics per socket (TOO_MANY_SUBSCRIPTIONS) and sockets per token across gateways (TOO_MANY_CONNECTIONS)', async () => {
    const admin = await limited.token({ sub: `subs-${suffix}`, role: 'admin' });
    const publisher = await limited.token({ sub: `pub2-${suffix}`, role: 'publisher' });
    const topics = [1, 2, 3].map((n) => `many-${n}-${suffix}`);
    for (const topic of topics) await limited.publish(topic, [heartbeat('web-1')], publisher);
    const socket = await connectedTo(limited.urls[0]!, admin);
    expect(await emit(socket, 'subscribe', { topic: topics[0] })).toMatchObject({ ok: true });
    expect(await emit(socket, 'subscribe', { topic: topics[1] })).toMatchObject({ ok: true });
    expect(await emit(socket, 'subscribe', { topic: topics[2] })).toMatchObject({
      ok: false,
      code: 'RATE_LIMITED',
      reason: 'TOO_MANY_SUBSCRIPTIONS',
    });
    expect(await emit(socket, 'unsubscribe', { topic: topics[0] })).toMatchObject({ ok: true });
    expect(await emit(socket, 'subscribe', { topic: topics[2] })).toMatchObject({ ok: true });
    // The token has one socket open on gateway 1; one more on gateway 2 is its second and last.
    const second = await connectedTo(limited.urls[1]!, admin);
    const third = await connect(limited.urls[0]!, { token: admin });
    expect(third.refused?.data).toMatchObject({ code: 'RATE_LIMITED', reason: 'TOO_MANY_CONNECTIONS' });
    second.close();
    await poll(
      'room for a new connection after a close',
      async () => {
        const next = await connect(limited.urls[0]!, { token: admin });
        if (next.refused) return false;
        next.socket.close();
        return true;
      },
      { timeoutMs: 10_000 },
    );
    socket.close();
  });

  it('counts subscribes sent without an ack, and frees no place for an unsubscribe the gateway refuses', async () => {
    const admin = await limited.token({ sub: `noack-${suffix}`, role: 'admin' });
    const publisher = await limited.token({ sub: `pub3-${suffix}`, role: 'publisher' });
    const topics = [1, 2, 3].map((n) => `noack-${n}-${suffix}`);
    for (const topic of topics) await limited.publish(topic, [heartbeat('web-1')], publisher);
    const socket = await connectedTo(limited.urls[0]!, admin);
    socket.emit('subscribe', { topic: topics[0] });
    socket.emit('subscribe', { topic: topics[1] });
    expect(await emit(socket, 'subscribe', { topic: topics[2] })).toMatchObject({
      ok: false,
      code: 'RATE_LIMITED',
      reason: 'TOO_MANY_SUBSCRIPTIONS',
    });
    expect(await emit(socket, 'unsubscribe', { topic: topics[0], extra: true })).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
    });
    expect(await emit(socket, 'subscribe', { topic: topics[2] })).toMatchObject({
      ok: false,
      code: 'RATE_LIMITED',
      reason: 'TOO_MANY_SUBSCRIPTIONS',
    });
    socket.close();
  });

  it('frees the connection slot of a client that goes away during the handshake', async () => {
    const sub = `dropper-${suffix}`;
    const admin = await limited.token({ sub, role: 'admin' });
    const key = `pulse:conn:{${Buffer.from(sub).toString('base64url')}}`;
    const port = new URL(limited.urls[0]!).port;
    for (let i = 0; i < 5; i++) {
      // A raw engine.io WebSocket: the CONNECT packet with the token, then the connection is gone.
      const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
      await within(
        'the engine.io open packet',
        new Promise<void>((resolve, reject) => ws.once('message', () => resolve()).once('error', reject)),
      );
      ws.send(`40${JSON.stringify({ token: admin })}`);
      ws.terminate();
    }
    await poll('the slots of the dropped handshakes to be released', async () => (await redis.zcard(key)) === 0, {
      timeoutMs: 10_000,
    });
    const sockets = [await connectedTo(limited.urls[0]!, admin), await connectedTo(limited.urls[1]!, admin)];
    for (const socket of sockets) socket.close();
  });

  async function connectedTo(url: string, tokenValue: string): Promise<Socket> {
    const { socket, refused } = await connect(url, { token: tokenValue });
    if (refused) throw new Error(`handshake refused: ${refused.message}`);
    return socket;
  }
});

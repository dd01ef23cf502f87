// Bounded under abuse (issue 15): bodies before tokens, scoped idempotency keys, paged topics, hosts and origins, a scrape-only credential, generic errors, tick times, and the access checks nobody had tested.
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue, type QueueEvents } from 'bullmq';
import { queueEventsFromNow } from '#pulse/event-store';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { chromium } from 'playwright-core';
import type { Socket } from 'socket.io-client';
import type { MintOptions } from '#pulse/auth';
import { MONITOR_QUEUE, MONITOR_SCHEDULER, NOTIFY_QUEUE, type ErrorBody } from '#pulse/contracts';
import { freePort, PROJECT_ROOT, RedisServer } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { handshake } from './support/clients.js';
import { within } from './support/wait.js';

const suffix = randomUUID().slice(0, 8);
const heartbeat = (instanceId: string, idempotencyKey?: string) => ({
  type: 'instance.heartbeat' as const,
  data: { instanceId },
  ...(idempotencyKey ? { idempotencyKey } : {}),
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: ErrorBody & Record<string, unknown>;
  text: string;
}

/** One HTTP request with exactly these headers (Host and Origin included, which fetch will not forge). */
function send(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<Answer> {
  return within(
    `${options.method ?? 'GET'} ${options.path}`,
    new Promise<Answer>((resolve, reject) => {
      const request = httpRequest(
        new URL(options.path, url),
        { method: options.method ?? 'GET', headers: options.headers },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () =>
            resolve({
              status: response.statusCode!,
              headers: response.headers,
              body: (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : {}) as Answer['body'],
              text,
            }),
          );
        },
      );
      request.on('error', reject);
      request.end(options.body);
    }),
  );
}

/** A raw socket over WebSocket with these credentials, headers and query; resolves once connected, or with the refusal of its handshake. */
function connect(
  url: string,
  options: { token?: string; headers?: Record<string, string>; query?: Record<string, string> } = {},
): Promise<{ socket: Socket; refused: (Error & { data?: ErrorBody }) | null }> {
  return handshake(url, {
    transports: ['websocket'],
    auth: options.token ? { token: options.token } : {},
    extraHeaders: options.headers,
    query: options.query,
  });
}

describe('with auth on', () => {
  let pulse: PulseTestStack;
  let url = '';
  let metricsPort = 0;
  const sockets: Socket[] = [];
  const token = (options: MintOptions) => pulse.token(options);
  const bearer = (value: string) => ({ authorization: `Bearer ${value}` });
  const TOPIC = `abuse-${suffix}`;

  beforeAll(async () => {
    metricsPort = await freePort();
    pulse = await startPulse({
      gateways: 1,
      workers: 1,
      auth: true,
      env: {
        PULSE_ALLOWED_ORIGINS: '*',
        PULSE_TOPICS_PAGE_MAX: '2',
        PULSE_METRICS_PORT: String(metricsPort),
        LOG_LEVEL: 'log',
      },
    });
    url = pulse.urls[0]!;
    await pulse.publish(TOPIC, [heartbeat('web-1')]);
  }, 90_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await pulse?.stop();
  });

  describe('bodies before tokens', () => {
    it('answers a body without a token 401 at once, unread: a malformed one, and one that never finishes arriving', async () => {
      const malformed = await send(url, {
        method: 'POST',
        path: `/api/v1/topics/${TOPIC}/events`,
        headers: { 'content-type': 'application/json' },
        body: '{"events": [',
      });
      expect({ status: malformed.status, reason: malformed.body.reason }).toEqual({
        status: 401,
        reason: 'TOKEN_MISSING',
      });
      // Announces 512 KiB and sends 10 bytes: answered without waiting for the rest.
      const answer = await within(
        'the 401 of a request whose body never completes',
        new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
          const request = httpRequest(
            new URL(`/api/v1/topics/${TOPIC}/events`, url),
            {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                'content-length': String(512 * 1024),
                authorization: 'Bearer not-a-jwt',
              },
            },
            (response) => {
              response.resume();
              resolve({ status: response.statusCode!, connection: response.headers.connection });
              request.destroy();
            },
          );
          request.on('error', (error) => (request.destroyed ? undefined : reject(error)));
          request.write('{"events":');
        }),
        10_000,
      );
      expect(answer).toEqual({ status: 401, connection: 'close' });
    });

    it('still parses the body of a request with a valid token (and names what is wrong in it)', async () => {
      const publisher = await token({ sub: `pub-${suffix}`, role: 'publisher', topics: [TOPIC] });
      const malformed = await send(url, {
        method: 'POST',
        path: `/api/v1/topics/${TOPIC}/events`,
        headers: { 'content-type': 'application/json', ...bearer(publisher) },
        body: '{"events": [',
      });
      expect({ status: malformed.status, message: malformed.body.message }).toEqual({
        status: 400,
        message: 'body: malformed JSON',
      });
    });
  });

  describe('idempotency keys', () => {
    it("are the token's own: another publisher's same key appends its own event, the same publisher's is a repeat", async () => {
      const topic = `idem-${suffix}`;
      const alice = await token({ sub: `alice-${suffix}`, role: 'publisher', topics: [topic] });
      const mallory = await token({ sub: `mallory-${suffix}`, role: 'publisher', topics: [topic] });
      const claimed = await pulse.publish(topic, [heartbeat('m-1', 'order-42')], mallory);
      const first = await pulse.publish(topic, [heartbeat('a-1', 'order-42')], alice);
      expect(first.seqs[0]).toBeGreaterThan(claimed.seqs[0]!);
      expect((await pulse.publish(topic, [heartbeat('a-1', 'order-42')], alice)).seqs).toEqual(first.seqs);
      expect((await pulse.log(topic)).map((event) => (event.data as { instanceId: string }).instanceId)).toEqual([
        'm-1',
        'a-1',
      ]);
    });
  });

  describe('GET /api/v1/topics in pages', () => {
    const covered = Array.from({ length: 5 }, (_, i) => `page-${suffix}-${i}`);

    beforeAll(async () => {
      for (const topic of [...covered, `other-${suffix}`]) await pulse.publish(topic, [heartbeat('x')]);
    });

    it('answers at most PULSE_TOPICS_PAGE_MAX topics the token covers per page, each naming the next in its Link header', async () => {
      const viewer = await token({ sub: `pager-${suffix}`, role: 'viewer', topics: [`page-${suffix}-*`] });
      const seen: string[] = [];
      let next: string | null = '/api/v1/topics';
      for (let pages = 0; next !== null; pages++) {
        expect(pages).toBeLessThan(5);
        const answer = await send(url, { path: next, headers: bearer(viewer) });
        expect(answer.status).toBe(200);
        const page = answer.body as unknown as { topic: string }[];
        expect(page.length).toBeLessThanOrEqual(2);
        seen.push(...page.map((entry) => entry.topic));
        next = /^<([^>]+)>; rel="next"$/.exec(String(answer.headers.link ?? ''))?.[1] ?? null;
      }
      expect(seen).toEqual(covered);
      const tooMany = await send(url, { path: '/api/v1/topics?limit=3', headers: bearer(viewer) });
      expect({ status: tooMany.status, message: tooMany.body.message }).toEqual({
        status: 400,
        message: 'limit: expected a whole number from 1 to 2 (PULSE_TOPICS_PAGE_MAX)',
      });
      expect(
        (await send(url, { path: '/api/v1/topics?cursor=Not%20A%20Topic', headers: bearer(viewer) })).body,
      ).toMatchObject({ code: 'BAD_REQUEST', issues: [expect.objectContaining({ path: 'cursor' })] });
    });

    it('is paged through by `pulse topics` and by the dashboard topic picker', async () => {
      const viewer = await token({ sub: `picker-${suffix}`, role: 'viewer', topics: [`page-${suffix}-*`] });
      const cli = await promisify(execFile)(process.execPath, ['bin/pulse.js', 'topics', '--json', '--url', url], {
        cwd: PROJECT_ROOT,
        env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', PULSE_TOKEN: viewer },
      });
      expect((JSON.parse(cli.stdout) as { topic: string }[]).map((entry) => entry.topic)).toEqual(covered);
      const browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
      });
      try {
        const page = await browser.newPage();
        await page.goto(`${url}/?topic=${covered[0]}#token=${viewer}`);
        await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 15_000 });
        await page.focus('[data-testid="topic-picker"]');
        await page.waitForFunction(
          (count) => document.querySelectorAll('[data-testid="topic-picker"] option').length >= count,
          covered.length,
          { timeout: 15_000 },
        );
        expect(
          await page.$$eval('[data-testid="topic-picker"] option', (options) =>
            options.map((option) => (option as HTMLOptionElement).value),
          ),
        ).toEqual(covered);
      } finally {
        await browser.close();
      }
    }, 60_000);
  });

  describe('admin routes with viewer and publisher tokens', () => {
    it('refuses the admin POST routes (tick, rebuild) with 403 ROLE_FORBIDDEN, and without a token with 401', async () => {
      for (const role of ['viewer', 'publisher', 'metrics'] as const) {
        const held = await token({ sub: `${role}-${suffix}`, role });
        for (const path of ['/api/v1/admin/tick', `/api/v1/admin/topics/${TOPIC}/rebuild?apply=1`]) {
          const answer = await send(url, { method: 'POST', path, headers: bearer(held) });
          expect({ role, path, status: answer.status, reason: answer.body.reason }).toEqual({
            role,
            path,
            status: 403,
            reason: 'ROLE_FORBIDDEN',
          });
        }
      }
      expect((await send(url, { method: 'POST', path: '/api/v1/admin/tick' })).status).toBe(401);
    });

    it("refuses Bull Board's write routes to them, and leaves the queue as it was", async () => {
      const writes: [string, string, string?][] = [
        ['PUT', `/admin/queues/api/queues/${MONITOR_QUEUE}/pause`],
        ['PUT', '/admin/queues/api/queues/pause'],
        [
          'POST',
          `/admin/queues/api/queues/${MONITOR_QUEUE}/add`,
          JSON.stringify({ name: MONITOR_SCHEDULER, data: { kind: 'monitor-tick', tickAt: Date.now() + 86_400_000 } }),
        ],
        ['PUT', `/admin/queues/api/queues/${MONITOR_QUEUE}/clean/completed`],
        ['PUT', `/admin/queues/api/queues/${MONITOR_QUEUE}/obliterate`],
        ['PUT', `/admin/queues/api/queues/${MONITOR_QUEUE}/job-schedulers/${MONITOR_SCHEDULER}/remove`],
        [
          'PATCH',
          `/admin/queues/api/queues/${MONITOR_QUEUE}/some-job/update-data`,
          JSON.stringify({ jobData: { tickAt: 0 } }),
        ],
      ];
      for (const role of ['viewer', 'publisher'] as const) {
        const held = await token({ sub: `board-${role}-${suffix}`, role });
        for (const [method, path, body] of writes) {
          const answer = await send(url, {
            method,
            path,
            body,
            headers: { ...bearer(held), ...(body ? { 'content-type': 'application/json' } : {}) },
          });
          expect({ role, method, path, status: answer.status, reason: answer.body.reason }).toEqual({
            role,
            method,
            path,
            status: 403,
            reason: 'ROLE_FORBIDDEN',
          });
        }
      }
      const admin = await token({ sub: `board-admin-${suffix}`, role: 'admin' });
      const queues = (await send(url, { path: '/admin/queues/api/queues', headers: bearer(admin) }))
        .body as unknown as { queues: { name: string; isPaused: boolean }[] };
      expect(queues.queues.map((queue) => [queue.name, queue.isPaused]).sort()).toEqual(
        [
          [MONITOR_QUEUE, false],
          [NOTIFY_QUEUE, false],
        ].sort(),
      );
      expect((await send(url, { path: '/api/v1/admin/scheduler', headers: bearer(admin) })).status).toBe(200);
    });
  });

  describe('tokens', () => {
    it('refuses a token without exp, on REST and on the socket handshake', async () => {
      const forever = await new SignJWT({ role: 'admin', topics: ['*'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(`forever-${suffix}`)
        .sign(new TextEncoder().encode(pulse.authSecret!));
      expect(
        (await send(url, { path: `/api/v1/topics/${TOPIC}/snapshot`, headers: bearer(forever) })).body,
      ).toMatchObject({ code: 'UNAUTHORIZED', reason: 'TOKEN_INVALID', message: expect.stringContaining('exp') });
      const { refused } = await connect(url, { token: forever });
      expect(refused?.data).toMatchObject({ code: 'UNAUTHORIZED', reason: 'TOKEN_INVALID' });
    });

    it('takes the Authorization header on the socket handshake', async () => {
      const viewer = await token({ sub: `header-${suffix}`, role: 'viewer', topics: [TOPIC] });
      const { socket, refused } = await connect(url, { headers: bearer(viewer) });
      sockets.push(socket);
      expect(refused).toBeNull();
      expect(
        await within('the subscribe ack', socket.emitWithAck('subscribe', { topic: TOPIC }) as Promise<unknown>),
      ).toMatchObject({ ok: true, topic: TOPIC });
      const forged = await connect(url, { headers: { authorization: 'Bearer not-a-jwt' } });
      expect(forged.refused?.data).toMatchObject({ code: 'UNAUTHORIZED', reason: 'TOKEN_MALFORMED' });
    });

    it('ignores a token in the query string, on REST and on sockets', async () => {
      const admin = await token({ sub: `query-${suffix}`, role: 'admin' });
      for (const name of ['token', 'access_token']) {
        expect((await send(url, { path: `/api/v1/topics/${TOPIC}/snapshot?${name}=${admin}` })).body).toMatchObject({
          code: 'UNAUTHORIZED',
          reason: 'TOKEN_MISSING',
        });
        const { refused } = await connect(url, { query: { [name]: admin } });
        expect(refused?.data).toMatchObject({ code: 'UNAUTHORIZED', reason: 'TOKEN_MISSING' });
      }
    });
  });

  describe('origins with PULSE_ALLOWED_ORIGINS=*', () => {
    it('still refuses Origin: null (sandboxed frames, local files), on REST and sockets; any real origin passes', async () => {
      const viewer = await token({ sub: `origin-${suffix}`, role: 'viewer', topics: [TOPIC] });
      const nullOrigin = await send(url, {
        path: `/api/v1/topics/${TOPIC}/snapshot`,
        headers: { ...bearer(viewer), origin: 'null' },
      });
      expect({
        status: nullOrigin.status,
        reason: nullOrigin.body.reason,
        cors: nullOrigin.headers['access-control-allow-origin'],
      }).toEqual({ status: 403, reason: 'ORIGIN_FORBIDDEN', cors: undefined });
      const { refused } = await connect(url, { token: viewer, headers: { origin: 'null' } });
      expect(refused?.data).toMatchObject({
        code: 'FORBIDDEN',
        reason: 'ORIGIN_FORBIDDEN',
        message: expect.stringContaining('origin null'),
      });
      expect(
        (
          await send(url, {
            path: `/api/v1/topics/${TOPIC}/snapshot`,
            headers: { ...bearer(viewer), origin: 'https://any.example' },
          })
        ).status,
      ).toBe(200);
    });
  });

  describe('the metrics credential', () => {
    it('lets a metrics token scrape /metrics and do nothing else; a viewer may not scrape', async () => {
      const scraper = await token({ sub: `prometheus-${suffix}`, role: 'metrics' });
      const scraped = await send(url, { path: '/metrics', headers: bearer(scraper) });
      expect(scraped.status).toBe(200);
      expect(scraped.text).toContain('pulse_');
      expect((await send(url, { path: '/api/v1/topics', headers: bearer(scraper) })).body).toMatchObject({
        reason: 'ROLE_FORBIDDEN',
      });
      expect(
        (await send(url, { path: `/api/v1/topics/${TOPIC}/snapshot`, headers: bearer(scraper) })).body,
      ).toMatchObject({ reason: 'ROLE_FORBIDDEN' });
      expect(
        (
          await send(url, {
            method: 'POST',
            path: `/api/v1/topics/${TOPIC}/events`,
            headers: { ...bearer(scraper), 'content-type': 'application/json' },
            body: JSON.stringify({ events: [heartbeat('m')] }),
          })
        ).body,
      ).toMatchObject({ reason: 'ROLE_FORBIDDEN' });
      const { socket } = await connect(url, { token: scraper });
      sockets.push(socket);
      expect(
        await within('the subscribe ack', socket.emitWithAck('subscribe', { topic: TOPIC }) as Promise<unknown>),
      ).toMatchObject({ ok: false, reason: 'ROLE_FORBIDDEN' });
      const viewer = await token({ sub: `no-scrape-${suffix}`, role: 'viewer' });
      expect((await send(url, { path: '/metrics', headers: bearer(viewer) })).body).toMatchObject({
        code: 'FORBIDDEN',
        reason: 'ROLE_FORBIDDEN',
        message: expect.stringContaining('metrics'),
      });
    });

    it('serves /metrics without a token on PULSE_METRICS_PORT, and nothing else there', async () => {
      const metricsUrl = `http://127.0.0.1:${metricsPort}`;
      const scraped = await send(metricsUrl, { path: '/metrics' });
      expect({ status: scraped.status, type: scraped.headers['content-type'] }).toEqual({
        status: 200,
        type: expect.stringContaining('text/plain'),
      });
      expect(scraped.text).toContain('pulse_');
      expect((await send(metricsUrl, { path: `/api/v1/topics/${TOPIC}/snapshot` })).status).toBe(404);
    });
  });

  describe('tick jobs', () => {
    it('fails a tick job whose tickAt is an hour ahead, with the reason, without retrying it, and appends nothing', async () => {
      const connections = [
        new Redis(pulse.redisUrl, { maxRetriesPerRequest: null }),
        new Redis(pulse.redisUrl, { maxRetriesPerRequest: null }),
      ];
      const queue = new Queue(MONITOR_QUEUE, { connection: connections[0]!, prefix: '{pulse}' });
      let events: QueueEvents | undefined;
      try {
        events = await queueEventsFromNow(queue, { connection: connections[1]!, prefix: '{pulse}' });
        const before = await pulse.log(TOPIC);
        const job = await queue.add(
          MONITOR_SCHEDULER,
          { kind: 'monitor-tick', everyMs: 3_600_000, tickAt: Date.now() + 3_600_000 },
          { attempts: 3 },
        );
        await expect(within('the far-future tick to fail', job.waitUntilFinished(events), 30_000)).rejects.toThrow(
          'PULSE_TICK_MAX_AHEAD_MS',
        );
        const failed = (await queue.getJob(job.id!))!;
        expect({ attemptsMade: failed.attemptsMade, reason: failed.failedReason }).toEqual({
          attemptsMade: 1,
          reason: expect.stringContaining('is outside [now - 86400000 ms, now + 60000 ms]'),
        });
        expect(await pulse.log(TOPIC)).toEqual(before);
      } finally {
        await events?.close();
        await queue.close();
        for (const connection of connections) connection.disconnect();
      }
    }, 45_000);
  });
});

describe('with auth off', () => {
  let pulse: PulseTestStack;
  let url = '';
  let port = 0;
  const TOPIC = `open-${suffix}`;

  beforeAll(async () => {
    pulse = await startPulse({
      gateways: 1,
      workers: 0,
      env: { PULSE_PUBLIC_URL: 'http://pulse.example:8080', LOG_LEVEL: 'log' },
    });
    url = pulse.urls[0]!;
    port = Number(new URL(url).port);
    await pulse.publish(TOPIC, [heartbeat('web-1')]);
  }, 90_000);

  afterAll(async () => {
    await pulse?.stop();
  });

  describe('hosts and origins (DNS rebinding)', () => {
    it('refuses a rebinding Host, with its Origin or without one, on REST and on the socket handshake', async () => {
      const host = `evil.example:${port}`;
      for (const headers of [{ host }, { host, origin: `http://${host}` }] as Record<string, string>[]) {
        const answer = await send(url, { path: `/api/v1/topics/${TOPIC}/snapshot`, headers });
        expect({ status: answer.status, reason: answer.body.reason, message: answer.body.message }).toEqual({
          status: 403,
          reason: 'ORIGIN_FORBIDDEN',
          message: expect.stringContaining(`host ${host} is not one this gateway serves`),
        });
      }
      const written = await send(url, {
        method: 'POST',
        path: `/api/v1/topics/${TOPIC}/events`,
        headers: { host, origin: `http://${host}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events: [heartbeat('rebound')] }),
      });
      expect(written.status).toBe(403);
      const { refused } = await connect(url, { headers: { host, origin: `http://${host}` } });
      expect(refused?.data).toMatchObject({ code: 'FORBIDDEN', reason: 'ORIGIN_FORBIDDEN' });
      expect((await pulse.log(TOPIC)).length).toBe(1);
    });

    it('takes a port-less Host (behind a proxy) as its own only for the PULSE_PUBLIC_URL origin, not for another port of that name', async () => {
      const path = `/api/v1/topics/${TOPIC}/snapshot`;
      expect(
        (await send(url, { path, headers: { host: 'pulse.example', origin: 'http://pulse.example:8080' } })).status,
      ).toBe(200);
      expect(
        (await send(url, { path, headers: { host: 'pulse.example', origin: 'http://pulse.example:9999' } })).body,
      ).toMatchObject({ reason: 'ORIGIN_FORBIDDEN' });
      expect(
        (await send(url, { path, headers: { host: '127.0.0.1', origin: 'http://127.0.0.1:9999' } })).body,
      ).toMatchObject({ reason: 'ORIGIN_FORBIDDEN' });
      // The gateway's own loopback page, exactly as requested, passes.
      expect(
        (await send(url, { path, headers: { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` } })).status,
      ).toBe(200);
    });

    it('ignores X-Forwarded-Host from a peer that is not a trusted proxy', async () => {
      const answer = await send(url, {
        path: `/api/v1/topics/${TOPIC}/snapshot`,
        headers: {
          host: `127.0.0.1:${port}`,
          'x-forwarded-host': 'pulse.example:9999',
          origin: 'http://pulse.example:9999',
        },
      });
      expect(answer.body).toMatchObject({ reason: 'ORIGIN_FORBIDDEN' });
    });
  });

  describe('idempotency keys', () => {
    it("are the source's own while auth is off", async () => {
      const topic = `idem-open-${suffix}`;
      const post = (source: string, instanceId: string) =>
        send(url, {
          method: 'POST',
          path: `/api/v1/topics/${topic}/events`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ source, events: [heartbeat(instanceId, 'k-1')] }),
        });
      const a = await post('producer-a', 'a');
      const b = await post('producer-b', 'b');
      const again = await post('producer-a', 'a');
      expect([a.status, b.status, again.status]).toEqual([201, 201, 201]);
      expect(b.body.seqs).not.toEqual(a.body.seqs);
      expect(again.body.seqs).toEqual(a.body.seqs);
    });
  });

  describe('when Redis is gone', () => {
    it('answers /readyz and ingest without Redis error texts (those go to the log)', async () => {
      await pulse.processes.redis!.stop();
      const ready = await send(url, { path: '/readyz' });
      expect({ status: ready.status, redis: ready.body.redis }).toEqual({ status: 503, redis: 'unreachable' });
      const ingest = await send(url, {
        method: 'POST',
        path: `/api/v1/topics/${TOPIC}/events`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ events: [heartbeat('late')] }),
      });
      expect({ status: ingest.status, message: ingest.body.message }).toEqual({
        status: 503,
        message: `the log of ${TOPIC} cannot be reached now; retry shortly (events with an idempotencyKey are appended at most once)`,
      });
      for (const text of [ready.text, ingest.text])
        expect(text).not.toMatch(/ECONNREFUSED|Connection is closed|Stream isn't writeable|127\.0\.0\.1:\d+/);
      expect(pulse.processes.gateways[0]!.output(200)).toMatch(/not ready: Redis does not answer|cannot be reached: /);
    }, 30_000);
  });
});

describe('npm start with a password in REDIS_URL', () => {
  it('prints the Redis URL with the password masked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pulse-abuse-start-'));
    const password = `pw-${suffix}-secret`;
    const redis = await RedisServer.start({ dir, appendOnly: false, args: ['--requirepass', password] });
    const start = spawn(process.execPath, ['dist/libs/stack/src/start.js', '--gateways', '1'], {
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        REDIS_URL: `redis://:${password}@127.0.0.1:${redis.port}`,
        PORT: String(await freePort()),
        PULSE_DEMO: '0',
        LOG_LEVEL: 'warn',
        PULSE_DRAIN_MS: '250',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise((resolve) => start.once('exit', resolve));
    try {
      await within(
        'npm start to say Pulse is up',
        new Promise<void>((resolve, reject) => {
          const read = (chunk: Buffer) => {
            output += chunk.toString();
            if (output.includes('Press Ctrl-C to stop everything.')) resolve();
          };
          start.stdout.on('data', read);
          start.stderr.on('data', read);
          start.once('exit', (code) => reject(new Error(`npm start exited (${code}) before it was up:\n${output}`)));
        }),
        60_000,
      );
      expect(output).toContain(`redis://:***@127.0.0.1:${redis.port}`);
      expect(output).not.toContain(password);
    } finally {
      start.kill('SIGINT');
      await within('npm start to stop on SIGINT', exited, 30_000);
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

// deploy/nginx/pulse.conf for real: Debian's nginx in front of three gateways, whose Redis has only
// the least-privilege ACL user of deploy/redis/pulse-user.rules (as docker-compose.yml runs them).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';
import { PulseClient } from '#pulse/client';
import type { IngestEvent, PulseEvent, SubscribeAck } from '#pulse/contracts';
import { decodeEntry } from '#pulse/event-store';
import { freePort, PROJECT_ROOT, PulseStack, RedisServer } from '#pulse/stack';
import { recordTopic, type PulseClientSocket } from './support/clients.js';
import { pause, poll, within } from './support/wait.js';

const PASSWORD = 'pulse-test-password';
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));

let dir = '';
let redis: RedisServer | undefined;
let stack: PulseStack | undefined;
let nginx: ChildProcess | undefined;
let nginxUrl = '';
let confPath = '';
/** The ground truth, read as the apps' own ACL user. */
let reader: Redis | undefined;
const clients: PulseClient[] = [];

beforeAll(async () => {
  if (!NGINX) throw new Error('nginx is not installed: apt-get install -y nginx (.ci/run does it)');
  dir = await mkdtemp(join(tmpdir(), 'pulse-nginx-'));
  await chmod(dir, 0o755); // nginx workers run as nobody when the tests run as root
  const rules = (await readFile(join(PROJECT_ROOT, 'deploy/redis/pulse-user.rules'), 'utf8')).trim().split(/\s+/);
  redis = await RedisServer.start({
    dir: join(dir, 'redis'),
    appendOnly: false,
    args: ['--user', 'default', 'off', '--user', 'pulse', 'on', `>${PASSWORD}`, ...rules],
  });
  const redisUrl = `redis://pulse:${PASSWORD}@127.0.0.1:${redis.port}`;
  stack = await PulseStack.start({
    redisUrl,
    gateways: 3,
    workers: 1,
    env: { LOG_LEVEL: 'log', PULSE_DEMO: '0', PULSE_TICK_MS: '3600000', PULSE_DRAIN_MS: '300' },
  });
  reader = new Redis(redisUrl, { maxRetriesPerRequest: 1 });

  const port = await freePort();
  const site = (await readFile(join(PROJECT_ROOT, 'deploy/nginx/pulse.conf'), 'utf8'))
    // One server line per gateway, with the file's own parameters (max_fails…).
    .replace(/^\s*server gateway:3000([^\n]*)$/m, (_line, params: string) =>
      stack!.urls.map((url) => `    server ${new URL(url).host}${params}`).join('\n'),
    )
    .replace(/listen 8080;/, `listen 127.0.0.1:${port};`);
  expect(site).toContain(`listen 127.0.0.1:${port};`);
  await writeFile(join(dir, 'pulse.conf'), site);
  confPath = join(dir, 'nginx.conf');
  await writeFile(
    confPath,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind}_temp;`),
      `  include ${dir}/pulse.conf;`,
      '}',
    ].join('\n'),
  );
  const check = spawnSync(NGINX, ['-t', '-p', dir, '-c', confPath, '-e', join(dir, 'error.log')], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx -t rejected deploy/nginx/pulse.conf:\n${check.stderr}`);
  nginx = spawn(NGINX, ['-p', dir, '-c', confPath, '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  nginxUrl = `http://127.0.0.1:${port}`;
  await poll('nginx to proxy /healthz', async () => (await fetch(`${nginxUrl}/healthz`)).ok, { timeoutMs: 10_000 });
}, 90_000);

afterAll(async () => {
  for (const client of clients) client.close();
  reader?.disconnect();
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((resolve) => nginx!.once('exit', resolve));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await stack?.stop();
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

const attempt = (instanceId: string, i: number): IngestEvent => ({
  type: 'attempt.recorded',
  data: { instanceId, outcome: i % 4 === 0 ? 'failure' : 'success' },
});

async function post(topic: string, events: IngestEvent[]): Promise<Response> {
  return fetch(`${nginxUrl}/api/v1/topics/${topic}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
}

async function readLog(topic: string): Promise<PulseEvent[]> {
  const entries = await reader!.xrange(`pulse:{${topic}}:log`, '-', '+');
  return entries.map(([id, fields]) => decodeEntry(topic, id, fields));
}

/** An SDK client through nginx (one URL: the load balancer) following `topic`. */
function follow(topic: string, transports: ('websocket' | 'polling')[] = ['websocket']) {
  const client = new PulseClient({
    urls: [nginxUrl],
    transports,
    reconnectDelayMs: 50,
    maxReconnectDelayMs: 500,
  }).connect();
  clients.push(client);
  return { client, ...recordTopic(client, topic) };
}

describe('nginx in front of three gateways (deploy/nginx/pulse.conf)', () => {
  it('proxies REST, and Socket.IO over both WebSocket and sticky long-polling', async () => {
    const topic = `nginx-basic-${Date.now().toString(36)}`;
    expect((await post(topic, [attempt('a', 1)])).status).toBe(201);
    expect((await fetch(`${nginxUrl}/api/v1/topics/${topic}/snapshot`)).status).toBe(200);
    for (const transport of ['websocket', 'polling'] as const) {
      const socket: PulseClientSocket = io(nginxUrl, { transports: [transport], forceNew: true, reconnection: false });
      try {
        const ack = await within(
          `${transport} subscribe ack`,
          socket.timeout(5000).emitWithAck('subscribe', { topic, batch: true }) as Promise<SubscribeAck>,
        );
        expect(ack).toMatchObject({ ok: true, topic });
        const received = new Promise<PulseEvent[]>((resolve) => socket.once('events', resolve));
        expect((await post(topic, [attempt('b', 2)])).status).toBe(201);
        const [event] = await within(`${transport} live event`, received);
        expect(event).toEqual((await readLog(topic)).at(-1));
        // Long-polling is several HTTP requests per session: ip_hash keeps them on one gateway.
        expect(socket.io.engine.transport.name).toBe(transport);
      } finally {
        socket.disconnect();
      }
    }
  }, 30_000);

  it('moves every client to another gateway when theirs drains (rolling restart), each ending with exactly the log', async () => {
    const topic = `nginx-drain-${Date.now().toString(36)}`;
    expect((await post(topic, [attempt('a', 0)])).status).toBe(201);
    const watchers = [...Array.from({ length: 5 }, () => follow(topic)), follow(topic, ['polling'])];
    await Promise.all(
      watchers.map((w) =>
        w.changes.until(
          () => 'subscribed',
          () => w.snapshots.length > 0,
        ),
      ),
    );
    let running = true;
    const flow = (async () => {
      for (let i = 1; running; i++) {
        await post(topic, [attempt(`i-${i % 3}`, i)]).catch(() => undefined);
        await pause(10);
      }
    })();
    // A rolling restart through the load balancer. ip_hash sends every loopback client to one
    // gateway; when it drains, nginx sends them on to another; so each gateway in turn.
    let moved = 0;
    for (const port of stack!.urls.map((url) => Number(new URL(url).port))) {
      const gateway = stack!.gateways.find((g) => g.running && Number(new URL(g.url).port) === port)!;
      const status = await gateway.stop(15_000);
      expect(status.signal === 'SIGTERM' || status.code === 0).toBe(true);
      moved += Number(/closed (\d+) socket connection/.exec(gateway.output(Infinity))?.[1] ?? NaN);
      await stack!.addGateway(port);
    }
    expect(moved).toBeGreaterThanOrEqual(watchers.length);
    // Right after the last restart nginx takes requests again: no gateway was left marked down
    // (passive marking made it "502 no live upstreams" for seconds after a quick rolling restart).
    expect((await post(topic, [attempt('after-restart', 1)])).status).toBe(201);
    await pause(300);
    running = false;
    await flow;
    const log = await readLog(topic);
    const head = log.at(-1)!.seq;
    await Promise.all(
      watchers.map((w, i) =>
        w.changes.until(
          () => `client ${i} at ${head} (at ${w.seq()})`,
          () => w.seq() >= head,
          20_000,
        ),
      ),
    );
    for (const w of watchers) {
      expect(w.snapshots).toEqual(['initial']);
      expect(w.events).toEqual(log.filter((event) => event.seq > log.length - w.events.length));
      expect(w.events[0]?.seq).toBe(2);
    }
  }, 60_000);

  it("sends the gateway's security headers on the dashboard (a CSP with script-src 'self'), and the dashboard works under them", async () => {
    const topic = `nginx-csp-${Date.now().toString(36)}`;
    expect((await post(topic, [attempt('a', 1), attempt('b', 2)])).status).toBe(201);
    const headersOf = (response: Response) =>
      Object.fromEntries(
        ['content-security-policy', 'x-content-type-options', 'referrer-policy', 'x-frame-options'].map((name) => [
          name,
          response.headers.get(name),
        ]),
      );
    const proxied = headersOf(await fetch(`${nginxUrl}/`));
    expect(proxied['content-security-policy']).toContain("script-src 'self'");
    expect(proxied).toEqual(headersOf(await fetch(`${stack!.urls[0]}/`)));
    // Bull Board and the API documents use inline styles: framing protection only.
    expect((await fetch(`${nginxUrl}/admin/queues`)).headers.get('content-security-policy')).toBe(
      "frame-ancestors 'none'",
    );
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (message) => (message.type() === 'error' ? problems.push(message.text()) : undefined));
      page.on('pageerror', (error) => problems.push(error.message));
      await page.addInitScript(() =>
        document.addEventListener('securitypolicyviolation', (event) =>
          console.error(
            `CSP violation: ${event.violatedDirective} ${event.blockedURI} at ${event.sourceFile}:${event.lineNumber}`,
          ),
        ),
      );
      await page.goto(`${nginxUrl}/?topic=${topic}`);
      await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 15_000 });
      await page.waitForFunction(
        () => document.querySelector('[data-testid="tile-total_attempts"] .value')?.textContent === '2',
        undefined,
        { timeout: 15_000 },
      );
      expect((await post(topic, [attempt('c', 3)])).status).toBe(201);
      await page.waitForFunction(
        () => document.querySelector('[data-testid="tile-total_attempts"] .value')?.textContent === '3',
        undefined,
        { timeout: 15_000 },
      );
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it("keeps the apps' Redis user to Pulse's own keys and commands", async () => {
    await expect(reader!.set('someone-elses-key', 'x')).rejects.toThrow(/NOPERM/);
    await expect(reader!.flushall()).rejects.toThrow(/NOPERM/);
    await expect(reader!.config('SET', 'maxmemory-policy', 'allkeys-lru')).rejects.toThrow(/NOPERM/);
    expect(await reader!.set('pulse:acl-probe', '1')).toBe('OK');
  });

  // Last: the flood spends this address's allowance for a moment.
  it('answers a flood of requests from one address 429 before the gateways (limit_req)', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 400 }, () => fetch(`${nginxUrl}/healthz`).then((response) => response.status)),
    );
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(0);
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
  }, 30_000);
});

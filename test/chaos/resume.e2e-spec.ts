// Chaos: resuming at the edges of retention, and a reconnect storm from spread positions; every history checked against the log.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Changes, pause } from '../support/wait.js';
import { Load, postEvents } from './support/load.js';
import { verdict } from './support/report.js';
import { ChaosStack, LONG, rss, scale, uniqueTopic } from './support/stack.js';
import { settle, WireSubscriber, type Subscriber } from './support/subscribers.js';

const STORM = scale(300, 1000);
const RETENTION = 1000;

let stack: ChaosStack;
const changes = new Changes();

beforeAll(async () => {
  stack = await ChaosStack.start({ gateways: 2, workers: 0, env: { PULSE_RETENTION: String(RETENTION) } });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

const heartbeats = (n: number, count = 100) =>
  Array.from({ length: count }, (_, i) => ({ type: 'instance.heartbeat', data: { instanceId: `i-${(n + i) % 11}` } }));

async function meta(topic: string): Promise<{ epoch: string; head: number; base: number }> {
  const redis = stack.admin();
  try {
    const [epoch, head, base] = await redis.hmget(`pulse:{${topic}}:meta`, 'epoch', 'head', 'base');
    return { epoch: epoch!, head: Number(head), base: Number(base ?? 0) };
  } finally {
    stack.release(redis);
  }
}

/** Prints, every 100 ms, the slowest /healthz answer (ms) of the gateways given as arguments. */
const HEALTHZ_PROBE = `
const urls = process.argv.slice(1);
for (;;) {
  const times = await Promise.all(urls.map(async (url) => { const t0 = performance.now(); await fetch(url + '/healthz').catch(() => undefined); return performance.now() - t0; }));
  process.stdout.write(Math.round(Math.max(...times)) + '\\n');
  await new Promise((resolve) => setTimeout(resolve, 100));
}`;

describe(`resume (${LONG ? 'long' : 'short'})`, () => {
  it('at the edges of retention: before the oldest retained event a snapshot, at it and at the head an exact replay; then live', async () => {
    const topic = uniqueTopic('retention');
    const url = stack.urls[0]!;
    for (let n = 0; n < 15; n++) expect((await postEvents(url, topic, heartbeats(n))).status).toBe(201);
    const { epoch, head, base } = await meta(topic);
    expect(base).toBeGreaterThan(1);
    const start = (name: string, seq: number) =>
      stack.track(new WireSubscriber(() => stack.urls, topic, name, changes, { from: { epoch, seq }, start: seq }));
    const before = [start('before-oldest', base - 1), start('long-before', 1), start('seq-0', 0)];
    const exact = [
      start('at-base', base),
      start('at-oldest', base + 1),
      start('at-head', head),
      start('just-before-head', head - 1),
    ];
    const all: Subscriber[] = [...before, ...exact];
    await changes.until(
      () => 'every resume answered',
      () =>
        all.every(
          (s) => (s as WireSubscriber).recovered + s.history.deliveries.filter((d) => d.kind === 'snapshot').length > 1,
        ),
      15_000,
    );
    // Live after the resume, while the log keeps trimming.
    for (let n = 15; n < 18; n++) expect((await postEvents(url, topic, heartbeats(n))).status).toBe(201);
    await settle(stack, changes, all, 30_000);
    const result = await verdict('retention edges', stack, all, { extra: `base=${base} head=${head}` });
    expect(result.findings).toEqual([]);
    expect(
      before.map((s) =>
        s.history.deliveries.filter((d) => d.kind === 'snapshot').map((d) => (d as { reason: string }).reason),
      ),
    ).toEqual(before.map(() => ['held before', 'not_recovered']));
    // Replayed, never re-snapshotted (a reconnect under load resumes again: recovered may be above 1).
    expect(
      exact.map((s) => s.recovered >= 1 && s.history.deliveries.filter((d) => d.kind === 'snapshot').length === 1),
    ).toEqual(exact.map(() => true));
    expect(await stack.foldDrift(topic)).toEqual([]);
  }, 60_000);

  it('at the oldest retained event while producers keep trimming it: an exact replay or a snapshot, never a gap', async () => {
    const topic = uniqueTopic('retention-race');
    const load = new Load(() => stack.urls, [topic], 400).start();
    await load.firstAccepted();
    const all: WireSubscriber[] = [];
    for (let i = 0; i < scale(40, 200); i++) {
      const { epoch, base } = await meta(topic);
      all.push(
        stack.track(
          new WireSubscriber(() => stack.urls, topic, `racer-${i}`, changes, { from: { epoch, seq: base }, start: i }),
        ),
      );
    }
    await load.stop();
    await settle(stack, changes, all, 30_000);
    const recovered = all.filter((s) => s.recovered > 0).length;
    const result = await verdict('retention race', stack, all, {
      complete: true,
      extra: `recovered=${recovered} snapshot=${all.length - recovered}`,
    });
    expect(result.findings).toEqual([]);
    expect(await stack.foldDrift(topic)).toEqual([]);
  }, 90_000);

  it(`reconnect storm: ${STORM} clients resume at once from spread positions while producers post; all recover exactly; event-loop delay under a second; memory bounded`, async () => {
    const topic = uniqueTopic('storm');
    const url = stack.urls[0]!;
    // History to resume into (within retention: every position is recoverable).
    for (let n = 0; n < 20; n++) expect((await postEvents(url, topic, heartbeats(n, 5))).status).toBe(201);
    const { epoch, head } = await meta(topic);
    const load = new Load(() => stack.urls, [topic], 100).start();
    const pids = stack.processes.gateways.filter((g) => g.running).map((g) => g.pid);
    const rssBefore = Math.max(...pids.map(rss));
    let rssPeak = rssBefore;
    // Event-loop delay seen from outside, by a process of its own (this one is busy with the storm's
    // clients): how long each gateway takes to answer /healthz, asked every 100 ms.
    const probe = spawn(process.execPath, ['--input-type=module', '-e', HEALTHZ_PROBE, ...stack.urls], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const delays: number[] = [];
    createInterface({ input: probe.stdout }).on('line', (line) => delays.push(Number(line)));
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        rssPeak = Math.max(rssPeak, ...pids.map(rss));
        await pause(100);
      }
    })();
    const storm = Array.from({ length: STORM }, (_, i) =>
      stack.track(
        new WireSubscriber(() => stack.urls, topic, `storm-${i}`, changes, {
          from: { epoch, seq: Math.floor((head * i) / STORM) },
          batch: i % 2 === 0,
          start: i,
        }),
      ),
    );
    await changes.until(
      () => `every storm client answered (${storm.filter((s) => s.recovered === 0).length} not yet)`,
      () => storm.every((s) => s.recovered > 0 || s.history.deliveries.length > 1),
      60_000,
    );
    await load.stop();
    await settle(stack, changes, storm, 60_000);
    sampling = false;
    await sampler;
    probe.kill('SIGTERM');
    delays.sort((a, b) => a - b);
    const maxDelay = Math.round(delays.at(-1) ?? 0);
    const result = await verdict('reconnect storm', stack, storm, {
      extra: `healthz-max=${maxDelay}ms rss-before=${Math.round(rssBefore / 2 ** 20)}MB rss-peak=${Math.round(rssPeak / 2 ** 20)}MB`,
    });
    expect(result.findings).toEqual([]);
    expect(result.summary.resyncs).toBe(0);
    expect(storm.filter((s) => s.recovered < 1).map((s) => s.history.client)).toEqual([]);
    // Under a second, as the issue asks, on the on-demand run (a quiet machine). In CI, where other
    // jobs share two cores, a round trip measures CPU contention as much as the gateway's own event
    // loop: there it only proves the gateways kept answering.
    expect(maxDelay).toBeLessThan(LONG ? 1000 : 10_000);
    expect(rssPeak).toBeLessThan(rssBefore + 300 * 2 ** 20);
    expect(await stack.foldDrift(topic)).toEqual([]);
    expect(stack.unhandled()).toEqual([]);
  }, 180_000);
});

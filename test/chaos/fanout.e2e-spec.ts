// Chaos: steady fan-out over three gateways and two workers, then kill -9 of a gateway under load; every history checked against the log.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Changes, pause } from '../support/wait.js';
import { Load, unacknowledged } from './support/load.js';
import { verdict } from './support/report.js';
import { ChaosStack, LONG, scale, uniqueTopic } from './support/stack.js';
import { CliTail, SdkSubscriber, settle, WireSubscriber, type Subscriber } from './support/subscribers.js';

/** 10,000 events a minute, ingest and ticks together. */
const RATE = 10_000 / 60;
const TICK_MS = 1000;
const STEADY_MS = scale(15_000, 120_000);
const KILL_MS = scale(10_000, 60_000);
const ROLL_MS = scale(3000, 30_000);
/** PULSE_SHUTDOWN_TIMEOUT_MS of the stack: a SIGTERMed process must be gone by then. */
const SHUTDOWN_MS = 8000;

let stack: ChaosStack;
const changes = new Changes();

beforeAll(async () => {
  // Idle topics stop being ticked quickly, so that a finished scenario's log settles.
  stack = await ChaosStack.start({
    gateways: 3,
    workers: 2,
    env: {
      PULSE_TICK_MS: String(TICK_MS),
      PULSE_TOPIC_IDLE_MS: '2000',
      PULSE_INSTANCE_TTL_MS: '60000',
      PULSE_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_MS),
      PULSE_DRAIN_MS: '2000',
    },
  });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

/** Thirty subscribers of `topic`, spread over the gateways: SDK clients, wire clients per event and in batch mode. */
function thirty(topic: string): Subscriber[] {
  const urls = () => stack.urls;
  const subscribers: Subscriber[] = [];
  for (let i = 0; i < 30; i++) {
    const name = `c${i}`;
    if (i % 3 === 0) {
      const gateway = stack.urls[i % stack.urls.length]!;
      // The SDK starts on `urls[0]`: rotate the list so the clients spread over the gateways.
      const rotated = [
        ...stack.urls.slice(stack.urls.indexOf(gateway)),
        ...stack.urls.slice(0, stack.urls.indexOf(gateway)),
      ];
      subscribers.push(stack.track(new SdkSubscriber(stack, topic, `sdk-${name}`, changes, { urls: rotated })));
    } else
      subscribers.push(
        stack.track(
          new WireSubscriber(urls, topic, `wire${i % 3 === 1 ? '' : '-batch'}-${name}`, changes, {
            batch: i % 3 === 2,
            start: i,
          }),
        ),
      );
  }
  return subscribers;
}

async function started(subscribers: Subscriber[]): Promise<void> {
  await changes.until(
    () => `every subscriber's first answer (${subscribers.filter((s) => !s.history.position(s.topic)).length} missing)`,
    () => subscribers.every((s) => s.history.position(s.topic) !== null),
    20_000,
  );
}

describe(`fan-out (${LONG ? 'long' : 'short'})`, () => {
  it(
    'steady: 3 gateways, 2 workers, 30 clients and a CLI tail at 10,000 events a minute: no gap, duplicate or reorder anywhere',
    async () => {
      const topic = uniqueTopic('steady');
      const load = new Load(() => stack.urls, [topic], RATE);
      // The topic needs a first event before anyone can subscribe.
      await load.start().firstAccepted();
      const subscribers = thirty(topic);
      const cli = stack.track(new CliTail(stack.urls, topic, changes));
      await started([...subscribers, cli]);
      await pause(STEADY_MS);
      await load.stop();
      await settle(stack, changes, [...subscribers, cli], 60_000);
      const result = await verdict('steady fan-out', stack, [...subscribers, cli], {
        extra: `posted=${load.count} refused=${load.refused.length}`,
      });
      expect(result.findings).toEqual([]);
      expect(result.summary.resyncs).toBe(0);
      expect(load.refused).toEqual([]);
      const log = await stack.readLog(topic);
      const ticks = [...log.entries.values()].filter((entry) => entry.type === 'status_update').length;
      expect(ticks).toBeGreaterThan(0);
      expect(await stack.foldDrift(topic)).toEqual([]);
      expect(stack.unhandled()).toEqual([]);
    },
    STEADY_MS + 150_000,
  );

  it(
    'kill -9 of one of three gateways under load: the others’ clients miss nothing and never reconnect; its clients resume elsewhere with exactly what they missed',
    async () => {
      const topic = uniqueTopic('kill-gateway');
      const load = new Load(() => stack.urls, [topic], RATE).start();
      await load.firstAccepted();
      const victim = stack.processes.gateways.find((gateway) => gateway.running)!;
      const subscribers = thirty(topic);
      await started(subscribers);
      const on = (s: Subscriber) => (s instanceof WireSubscriber ? s.url : (s as SdkSubscriber).client.gateway);
      const onVictim = subscribers.filter((s) => on(s) === victim.url);
      const onOthers = subscribers.filter(
        (s): s is WireSubscriber => s instanceof WireSubscriber && on(s) !== victim.url,
      );
      expect(onVictim.length).toBeGreaterThan(0);
      await pause(KILL_MS / 2);
      victim.kill('SIGKILL');
      await victim.exited;
      await pause(KILL_MS / 2);
      await load.stop();
      await settle(stack, changes, subscribers, 60_000);
      const result = await verdict('kill -9 gateway', stack, subscribers, {
        extra: `posted=${load.count} moved=${onVictim.length} lost-requests=${load.refused.length}`,
      });
      expect(result.findings).toEqual([]);
      // Resumed, not re-snapshotted: what they missed came as events.
      expect(result.summary.resyncs).toBe(0);
      expect(onVictim.map((s) => (s.recovered ?? 0) >= 1)).toEqual(onVictim.map(() => true));
      expect(onOthers.map((s) => s.reconnects)).toEqual(onOthers.map(() => 0));
      // Requests cut by the crash answered nothing (status 0); the running gateways refused none.
      expect(load.refused.filter((r) => r.status !== 0)).toEqual([]);
      expect(await stack.foldDrift(topic)).toEqual([]);
      expect(stack.unhandled()).toEqual([]);
      await stack.processes.addGateway();
    },
    KILL_MS + 150_000,
  );

  it(
    'rolling SIGTERM of every gateway, and kill -9 of a worker, under load: every client ends with the log, nothing refused but cut requests, every process exits in time',
    async () => {
      const topic = uniqueTopic('rolling');
      const load = new Load(() => stack.urls, [topic], RATE).start();
      await load.firstAccepted();
      const subscribers = thirty(topic);
      await started(subscribers);
      const exits: string[] = [];
      for (const gateway of stack.processes.gateways.filter((g) => g.running)) {
        const t0 = Date.now();
        const status = await gateway.stop(SHUTDOWN_MS + 5000);
        exits.push(`${status.code ?? status.signal} in ${Date.now() - t0} ms`);
        // Exited by itself (code 0 once shut down), not killed by stop()'s SIGKILL.
        expect([
          { code: 0, signal: null },
          { code: null, signal: 'SIGTERM' },
        ]).toContainEqual(status);
        expect(Date.now() - t0).toBeLessThan(SHUTDOWN_MS + 2000);
        // The new version comes up at the same address (the SDK clients know gateways by URL).
        await stack.processes.addGateway(Number(new URL(gateway.url).port));
      }
      // A worker killed hard while ticks run, and replaced.
      const worker = stack.processes.workers.find((w) => w.running)!;
      worker.kill('SIGKILL');
      await worker.exited;
      await stack.processes.addWorker();
      await pause(ROLL_MS);
      await load.stop();
      await settle(stack, changes, subscribers, 60_000);
      const result = await verdict('rolling SIGTERM', stack, subscribers, {
        extra: `posted=${load.count} exits=[${exits.join('; ')}] refused=${load.refused.length} resent=${load.retried}`,
      });
      expect(result.findings).toEqual([]);
      // Drained clients resume elsewhere: nobody needed a snapshot.
      expect(result.summary.resyncs).toBe(0);
      // A draining gateway stops accepting (ECONNREFUSED: never sent) but finishes requests in
      // flight: nothing was cut or refused after it was sent, and nothing appended went unacknowledged.
      expect(load.refused.filter((r) => r.error !== 'ECONNREFUSED')).toEqual([]);
      expect(await unacknowledged(stack, topic, load)).toEqual({ appendedWithoutAck: [], ackedButMissing: [] });
      expect(await stack.foldDrift(topic)).toEqual([]);
      expect(stack.unhandled()).toEqual([]);
    },
    ROLL_MS + 240_000,
  );
});

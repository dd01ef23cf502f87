// The hub's answers to a subscribe it cannot serve: generic words for the client, Redis's own in the log.
import { expect, it } from '@jest/globals';
import type { SubscribeAck } from '#pulse/contracts';
import type { EventStore } from '#pulse/event-store';
import { LiveHub, type PulseSocket } from './live-hub.js';
import type { LogTail } from './log-tail.js';

it("a subscribe refused because the log cannot be read says so without Redis's error text, which goes to the log", async () => {
  const redisSays = 'NOAUTH Authentication required. (redis://pulse:hunter2@10.0.0.7:6379)';
  const unreadable = () => Promise.reject(new Error(redisSays));
  const store = { head: unreadable, snapshot: unreadable } as unknown as EventStore;
  const tail = {
    follow: () => Promise.resolve(),
    unfollow: () => undefined,
    position: () => undefined,
  } as unknown as LogTail;
  const warnings: string[] = [];
  const hub = new LiveHub(store, tail, { logger: { warn: (message: string) => void warnings.push(message) } });
  const socket = { connected: true, data: {} } as unknown as PulseSocket;
  const answers: SubscribeAck[] = [];
  await hub.subscribe(socket, { topic: 'orders' }, (answer) => answers.push(answer));
  expect(answers).toEqual([
    { ok: false, code: 'UNAVAILABLE', message: 'cannot read the log of orders now; retry shortly' },
  ]);
  expect(warnings.join('\n')).toContain(redisSays);
});

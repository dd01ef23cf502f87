// The cluster reader's wake: true only when it ended a wait, as CLIENT UNBLOCK answers for a blocking XREAD.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import type { Cluster } from 'ioredis';
import { ClusterLogReader } from './cluster-log-reader.js';

/** Stand-ins for the two cluster connections: subscribing takes a round trip; no topic has events. */
function reader(): ClusterLogReader {
  const commands = { xread: () => Promise.resolve(null) };
  const subscriber = Object.assign(new EventEmitter(), {
    ssubscribe: () => sleep(50),
    sunsubscribe: () => sleep(50),
  });
  return new ClusterLogReader(commands as unknown as Cluster, subscriber as unknown as Cluster);
}

describe('ClusterLogReader.wake', () => {
  it('answers false while no read waits (none yet, or one still subscribing), true when it ends a wait', async () => {
    const tail = reader();
    expect(tail.wake()).toBe(false);
    let done = false;
    const read = tail.read(new Map([['a', 0]]), 60_000, 100).then((batches) => {
      done = true;
      return batches;
    });
    // Still subscribing to a's bell: nothing to end yet, and the tail must try again.
    expect(tail.wake()).toBe(false);
    await sleep(150);
    expect(done).toBe(false);
    expect(tail.wake()).toBe(true);
    expect((await read).size).toBe(0);
    expect(done).toBe(true);
  });
});

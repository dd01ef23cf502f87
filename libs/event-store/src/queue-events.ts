// BullMQ's QueueEvents, made to hear every event after the moment it was asked for.
import { QueueEvents, type Queue, type QueueEventsOptions } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * A QueueEvents that hears every event of `queue` from the stream's newest entry on. Left to
 * itself, QueueEvents reads from `$` (whatever comes after its first XREAD reaches Redis), and its
 * first XREAD goes out a round trip after it is ready: a job added then and finished fast (a tick
 * of a few topics) was done before the XREAD, and its waiter heard nothing. Starting from the id
 * read before any job is added closes that window, and the reads never go back to `$` after a
 * read that timed out.
 */
export async function queueEventsFromNow(queue: Queue, options: QueueEventsOptions): Promise<QueueEvents> {
  // BullMQ's ioredis adapter hands a command it does not wrap through to ioredis.
  const client = (await queue.getBackend().client) as unknown as Pick<Redis, 'xrevrange'>;
  const [newest] = await client.xrevrange(queue.toKey('events'), '+', '-', 'COUNT', 1);
  const events = new QueueEvents(queue.name, { ...options, lastEventId: newest?.[0] ?? '0-0' });
  try {
    await events.waitUntilReady();
  } catch (error) {
    // Made and already reading: closed here, or nobody would.
    await events.close().catch(() => undefined);
    throw error;
  }
  return events;
}

// queueEventsFromNow against a real Redis and a real BullMQ worker: a job that finished before the reader's first XREAD is heard, nothing older is.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import { queueEventsFromNow } from './queue-events.js';

/** Database 11 of the specs' Redis, and a prefix of its own per test: no other spec sees these queues. */
const connection = { url: `${process.env.PULSE_TEST_REDIS_URL!}/11` };

const closing: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const closable of closing.splice(0).reverse()) await closable.close();
});

describe('queueEventsFromNow', () => {
  it('hears a job that finished before its first read, and nothing from before it was made', async () => {
    const prefix = `{spec-${randomUUID()}}`;
    const queue = new Queue('jobs', { connection, prefix });
    const worker = new Worker('jobs', (job) => Promise.resolve(`done ${job.id}`), { connection, prefix });
    closing.push(queue, worker);
    const finished = (jobId: string) =>
      new Promise<void>((resolve) => worker.on('completed', (job) => job.id === jobId && resolve()));
    // Something older in the stream, as on a queue that has run before.
    const older = finished('older');
    await queue.add('job', {}, { jobId: 'older' });
    await older;
    // The reader is made before the job is added and reads only once the job is done: the race at its worst.
    const events = await queueEventsFromNow(queue, { connection, prefix, autorun: false });
    closing.push(events);
    const raced = finished('raced');
    await queue.add('job', {}, { jobId: 'raced' });
    await raced;
    const heard: string[] = [];
    const returned = new Promise<unknown>((resolve) =>
      events.on('completed', ({ jobId, returnvalue }) => {
        heard.push(jobId);
        if (jobId === 'raced') resolve(returnvalue);
      }),
    );
    void events.run();
    expect(await returned).toBe('done raced');
    // The older job's events come first in the stream: a reader that began before its own making would hear them.
    expect(heard).toEqual(['raced']);
  });

  it('hears the first job of a queue that has no events yet', async () => {
    const prefix = `{spec-${randomUUID()}}`;
    const queue = new Queue('jobs', { connection, prefix });
    const events = await queueEventsFromNow(queue, { connection, prefix, autorun: false });
    closing.push(queue, events);
    const worker = new Worker('jobs', () => Promise.resolve('first'), { connection, prefix });
    closing.push(worker);
    const done = new Promise<void>((resolve) => worker.on('completed', () => resolve()));
    await queue.add('job', {});
    await done;
    const heard = new Promise<unknown>((resolve) =>
      events.once('completed', ({ returnvalue }) => resolve(returnvalue)),
    );
    void events.run();
    expect(await heard).toBe('first');
  });
});

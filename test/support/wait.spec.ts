// The shared test waits: what arrived before a wait counts, every wait ends at its deadline, and its message says what it waited for.
import { describe, expect, it } from '@jest/globals';
import { Changes, poll } from './wait.js';

describe('Changes', () => {
  it('counts an arrival recorded before the wait began', async () => {
    const changes = new Changes();
    const seen: number[] = [1];
    changes.changed();
    await changes.until('seq 1', () => seen.includes(1), 50);
  });

  it('resolves on the change that makes the condition hold, and only then', async () => {
    const changes = new Changes();
    const seen: number[] = [];
    const waited = changes.until('seq 2', () => seen.includes(2), 5000);
    seen.push(1);
    changes.changed();
    setTimeout(() => {
      seen.push(2);
      changes.changed();
    }, 10);
    await waited;
    expect(seen).toEqual([1, 2]);
  });

  it('fails at its deadline naming what it waited for, as it stood then', async () => {
    const changes = new Changes();
    let at = 0;
    const waited = changes.until(
      () => `seq 5 (at ${at})`,
      () => at >= 5,
      50,
    );
    at = 3;
    changes.changed();
    await expect(waited).rejects.toThrow('timed out after 50 ms waiting for seq 5 (at 3)');
  });
});

describe('poll', () => {
  it('answers the first truthy answer, asking again after an ask that throws', async () => {
    let asks = 0;
    const answer = await poll(
      'the third ask',
      () => {
        asks += 1;
        if (asks === 1) throw new Error('connection refused');
        return asks === 3 && { asks };
      },
      { timeoutMs: 5000, pauseMs: 1 },
    );
    expect(answer).toEqual({ asks: 3 });
  });

  it('fails at its deadline naming what it waited for and the last failure', async () => {
    await expect(
      poll(
        'readyz',
        () => {
          throw new Error('ECONNREFUSED');
        },
        { timeoutMs: 30, pauseMs: 5 },
      ),
    ).rejects.toThrow('timed out after 30 ms waiting for readyz (the last ask failed: ECONNREFUSED)');
  });

  it('bounds an ask that never answers', async () => {
    await expect(
      poll('a frozen process', () => new Promise<boolean>(() => undefined), { timeoutMs: 30 }),
    ).rejects.toThrow('waiting for a frozen process');
  });
});

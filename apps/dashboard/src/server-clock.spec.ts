// The page's estimate of the server's clock: the quickest delivery of a live event sets it, slower ones do not.
import { describe, expect, it } from '@jest/globals';
import { ServerClock } from './server-clock.js';

describe('ServerClock', () => {
  it('reads the local clock until an event was seen', () => {
    const clock = new ServerClock();
    expect(clock.offset).toBe(0);
    expect(clock.now(1_000)).toBe(1_000);
  });

  it('takes the least lead over the events seen, for a local clock ahead of the server or behind it', () => {
    const ahead = new ServerClock();
    ahead.observe(100_000, 190_050); // 90 s ahead, 50 ms on the way
    ahead.observe(101_000, 191_010); // delivered in 10 ms: a closer estimate
    ahead.observe(95_000, 192_000); // a replayed event: much older, it does not count
    expect(ahead.offset).toBe(90_010);
    expect(ahead.now(200_000)).toBe(109_990);

    const behind = new ServerClock();
    behind.observe(100_000, 70_020);
    expect(behind.offset).toBe(-29_980);
    expect(behind.now(80_000)).toBe(109_980);
  });
});

// The per-connection rate limit on a clock the test moves: a window's requests, the refusal's wait, the next window, forgetting.
import { expect, it } from '@jest/globals';
import { ConnectionRates } from './connection-rates.js';

function limited(points: number, windowMs: number) {
  const clock = { now: 1_000_000 };
  const rates = new ConnectionRates(points, windowMs, () => clock.now);
  return { clock, rates };
}

it('lets a connection make its points per window, then answers how long until the window ends', () => {
  const { clock, rates } = limited(3, 1000);
  expect([rates.consume('a'), rates.consume('a'), rates.consume('a')]).toEqual([0, 0, 0]);
  clock.now += 400;
  expect(rates.consume('a')).toBe(600);
  // Another connection has its own count.
  expect(rates.consume('b')).toBe(0);
  rates.close();
});

it('serves the same connection again once its window is over, without anyone sleeping', () => {
  const { clock, rates } = limited(2, 1000);
  rates.consume('a');
  rates.consume('a');
  clock.now += 999;
  expect(rates.consume('a')).toBe(1);
  clock.now += 1;
  expect(rates.consume('a')).toBe(0);
  rates.close();
});

it('holds nothing for a closed connection, nor for one whose window is over', () => {
  const { clock, rates } = limited(2, 1000);
  rates.consume('closed');
  rates.consume('idle');
  rates.forget('closed');
  expect(rates.size).toBe(1);
  clock.now += 1000;
  rates.sweep();
  expect(rates.size).toBe(0);
  rates.close();
});

it('a request that reads a lot is charged past the rate while its window has room: the next requests and charges wait for the next window', () => {
  const { clock, rates } = limited(10, 1000);
  expect(rates.consume('a')).toBe(0);
  expect(rates.charge('a', 100)).toBe(0); // one resume of 10,000 events at 100 events a point
  clock.now += 300;
  expect(rates.consume('a')).toBe(700);
  expect(rates.charge('a', 1)).toBe(700);
  clock.now += 700;
  expect(rates.consume('a')).toBe(0);
  rates.close();
});

it('every connection counts in the same windows, multiples of the window on the clock: one that starts late in a window has the rest of it', () => {
  const { clock, rates } = limited(1, 1000);
  clock.now += 900;
  expect(rates.consume('late')).toBe(0);
  expect(rates.consume('late')).toBe(100);
  clock.now += 100;
  expect(rates.consume('late')).toBe(0);
  rates.close();
});

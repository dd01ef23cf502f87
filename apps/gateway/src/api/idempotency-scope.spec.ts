// Scoped idempotency keys: one producer's key never matches another's.
import { describe, expect, it } from '@jest/globals';
import { scopedIdempotencyKey } from './idempotency-scope.js';

describe('scopedIdempotencyKey', () => {
  it('gives the same key of two producers two different scoped keys, and the same producer the same one', () => {
    expect(scopedIdempotencyKey('alice', 'k1')).not.toBe(scopedIdempotencyKey('bob', 'k1'));
    expect(scopedIdempotencyKey('alice', 'k1')).toBe(scopedIdempotencyKey('alice', 'k1'));
    // A scope ending like a key cannot borrow it: "a:b" + "c" is not "a" + "b:c".
    expect(scopedIdempotencyKey('a:b', 'c')).not.toBe(scopedIdempotencyKey('a', 'b:c'));
    expect(scopedIdempotencyKey('', 'k')).not.toBe(scopedIdempotencyKey(':', 'k'));
  });

  it('leaves an event without a key without one', () => {
    expect(scopedIdempotencyKey('alice', undefined)).toBeUndefined();
  });
});

// Idempotency keys belong to their producer: the key the log remembers is the producer's scope plus its own key.

/**
 * The key the append remembers for a producer's `key`: scoped to `scope` (the token's sub, or
 * with auth off the request's source), so that two producers using the same key never collide.
 * The scope's length comes first: no scope and key can spell another pair's. Undefined stays
 * undefined (an event without a key is always appended).
 */
export function scopedIdempotencyKey(scope: string, key: string | undefined): string | undefined {
  return key === undefined || key === '' ? key : `${scope.length}:${scope}:${key}`;
}

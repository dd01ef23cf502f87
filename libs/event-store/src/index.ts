// Pulse event store: the per-topic log on Redis Streams, its projections and the connections to it.
export * from './alert-store.js';
export * from './event-store.js';
export * from './history.js';
export * from './log-reader.js';
export * from './redis.js';
export * from './queue-events.js';
export * from './event-store.module.js';
export * from './bell-log-reader.js';
export { RATE_LIMIT_PREFIX, tokenConnectionsKey, tokenLimitKey } from './keys.js';

// Pulse contracts: what producers, gateways and clients agree on.
export * from './alerts.js';
export * from './errors.js';
export * from './events.js';
export * from './fold.js';
export * from './paging.js';
export * from './protocol.js';
export * from './queues.js';
export * from './series.js';
export * from './text.js';
export * from './topic.js';
export * from './version.js';

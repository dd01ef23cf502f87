// Local Pulse stacks: an embedded redis-server and Pulse processes started as production starts them.
export * from './free-port.js';
export * from './pulse-process.js';
export * from './pulse-stack.js';
export * from './redis-server.js';
export * from './redis-cluster.js';
export * from './within.js';

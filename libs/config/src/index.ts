// Pulse configuration: the env schema and its validated, injectable result.
export * from './config.js';
export * from './config.schema.js';

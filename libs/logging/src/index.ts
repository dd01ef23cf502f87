// Pulse logging: pino JSON logs for every process, and Nest's logger on top of them.
export * from './logger.js';

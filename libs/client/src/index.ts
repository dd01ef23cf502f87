// Pulse client SDK: used by the dashboard, the CLI and the tests.
export * from './pulse-client.js';

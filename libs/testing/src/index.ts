// Pulse testing helpers: startPulse() for jest e2e suites, in this repository and in users' projects.
export * from './pulse-testing.js';

// Pulse access control: token claims, topic patterns, and minting and checking tokens.
export * from './claims.js';
export * from './tokens.js';

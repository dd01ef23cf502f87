// The page runs under a CSP without 'unsafe-eval' (script-src 'self'): zod must not even probe
// for eval (each probe is a CSP violation report), so it parses without its compiled fast path.
// Imported first by main.ts: zod decides when a schema is built, and modules build theirs on import.
import { config } from 'zod';

config({ jitless: true });

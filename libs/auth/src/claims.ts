// Who a token says its holder is and what it may do: roles, topic patterns, and the checks every edge shares.
import { z } from 'zod';

/** Roles, each with its own rights: viewers read their topics, publishers ingest to theirs, admins do all. */
export const ROLES = ['viewer', 'publisher', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a request wants to do: `read` (subscribe, replay, snapshot, events), `publish` (ingest), `admin` (operator endpoints). */
export type Action = 'read' | 'publish' | 'admin';

/** A topic pattern: a topic name where `*` stands for any run of characters (`*` alone: every topic). */
export const TOPIC_PATTERN_SCHEMA = z.string().regex(/^[a-z0-9._*-]{1,64}$/, 'expected a topic pattern: 1-64 chars of a-z 0-9 . _ - and * as a wildcard');

/** The claims Pulse reads from a token (others are ignored). */
export const tokenClaimsSchema = z.object({
  sub: z.string({ error: 'expected sub (the holder, a string)' }).min(1).max(200),
  role: z.enum(ROLES, { error: `expected role to be one of ${ROLES.join(', ')}` }),
  topics: z.array(TOPIC_PATTERN_SCHEMA, { error: 'expected topics (an array of topic patterns)' }).max(100),
  exp: z.number({ error: 'expected exp (seconds since 1970)' }).int(),
});
export type TokenClaims = z.infer<typeof tokenClaimsSchema>;

/** The holder of a checked token (or everyone, when auth is off). */
export interface Principal {
  sub: string;
  role: Role;
  topics: string[];
  /** Expiry, ms since 1970; null when auth is off. */
  expiresAt: number | null;
}

/** Everyone when auth is off: no limits on topics or roles. */
export const ANONYMOUS: Principal = Object.freeze({ sub: 'anonymous', role: 'admin', topics: ['*'], expiresAt: null });

const patternCache = new Map<string, RegExp>();

/** True when `topic` matches `pattern` (`*` matches any run of characters, `.` is literal). */
export function topicMatches(pattern: string, topic: string): boolean {
  let regex = patternCache.get(pattern);
  if (!regex) {
    regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.]/g, '\\.')).join('.*')}$`);
    if (patternCache.size > 1000) patternCache.clear();
    patternCache.set(pattern, regex);
  }
  return regex.test(topic);
}

/** The role `action` needs beyond admin (which may do everything). */
const ROLE_FOR: Record<Action, Role> = { read: 'viewer', publish: 'publisher', admin: 'admin' };

/** Whether the principal's role allows `action` (topics aside). */
export function roleAllows(principal: Principal, action: Action): boolean {
  return principal.role === 'admin' || principal.role === ROLE_FOR[action];
}

/** Whether one of the principal's patterns covers `topic`. */
export function topicAllowed(principal: Principal, topic: string): boolean {
  return principal.topics.some((pattern) => topicMatches(pattern, topic));
}

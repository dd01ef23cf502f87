// Who a token says its holder is and what it may do: roles, topic patterns, and the checks every edge shares.
import { z } from 'zod';

/** Roles, each with its own rights: viewers read their topics, publishers ingest to theirs, metrics scrapes /metrics only, admins do all. */
export const ROLES = ['viewer', 'publisher', 'metrics', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a request wants to do: `read` (subscribe, replay, snapshot, events), `publish` (ingest), `scrape` (GET /metrics), `admin` (operator endpoints). */
export type Action = 'read' | 'publish' | 'scrape' | 'admin';

/** A topic pattern: a topic name where `*` stands for any run of characters (`*` alone: every topic). */
export const TOPIC_PATTERN_SCHEMA = z
  .string()
  .regex(/^[a-z0-9._*-]{1,64}$/, 'expected a topic pattern: 1-64 chars of a-z 0-9 . _ - and * as a wildcard');

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

/**
 * True when `topic` matches `pattern` (`*` matches any run of characters, every other character
 * is literal). No regular expression: a pattern with many `*` cannot make it backtrack. The
 * parts between stars are found left to first fit, which is enough for a glob (a part that fits
 * earlier never prevents a later part from fitting), so the work stays within
 * |topic| × |pattern| character comparisons.
 */
export function topicMatches(pattern: string, topic: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === topic;
  const first = parts[0]!;
  const last = parts.at(-1)!;
  if (first.length + last.length > topic.length || !topic.startsWith(first) || !topic.endsWith(last)) return false;
  let at = first.length;
  const end = topic.length - last.length;
  for (const part of parts.slice(1, -1)) {
    if (part === '') continue;
    const found = topic.indexOf(part, at);
    if (found === -1 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/** The role `action` needs beyond admin (which may do everything). */
const ROLE_FOR: Record<Action, Role> = { read: 'viewer', publish: 'publisher', scrape: 'metrics', admin: 'admin' };

/** Whether the principal's role allows `action` (topics aside). */
export function roleAllows(principal: Principal, action: Action): boolean {
  return principal.role === 'admin' || principal.role === ROLE_FOR[action];
}

/** Whether one of the principal's patterns covers `topic`. */
export function topicAllowed(principal: Principal, topic: string): boolean {
  return principal.topics.some((pattern) => topicMatches(pattern, topic));
}

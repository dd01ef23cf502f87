// Stable error codes and the error body shared by REST answers and socket acks.
import type { z } from 'zod';

/** Stable error codes: clients switch on these, never on messages. */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'RATE_LIMITED',
  'UNAVAILABLE',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Why an answer was refused, for clients that must tell the cases apart (ask for a new token,
 * give up on a topic, slow down, stop adding instances). Stable strings, like the codes.
 */
export const ERROR_REASONS = {
  /** UNAUTHORIZED: no token was sent. */
  TOKEN_MISSING: 'UNAUTHORIZED',
  /** UNAUTHORIZED: the token is not a readable JWT. */
  TOKEN_MALFORMED: 'UNAUTHORIZED',
  /** UNAUTHORIZED: the token has expired (an open socket is closed when it does). */
  TOKEN_EXPIRED: 'UNAUTHORIZED',
  /** UNAUTHORIZED: bad signature, wrong algorithm or unusable claims. */
  TOKEN_INVALID: 'UNAUTHORIZED',
  /** FORBIDDEN: the token's role may not do this (a viewer publishing, a publisher subscribing, a non-admin on admin endpoints). */
  ROLE_FORBIDDEN: 'FORBIDDEN',
  /** FORBIDDEN: none of the token's topic patterns covers this topic. */
  TOPIC_FORBIDDEN: 'FORBIDDEN',
  /** FORBIDDEN: the browser page's origin is not in PULSE_ALLOWED_ORIGINS. */
  ORIGIN_FORBIDDEN: 'FORBIDDEN',
  /** RATE_LIMITED: too many requests for this token (across gateways) or this connection. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** RATE_LIMITED: this token already has as many open sockets as allowed. */
  TOO_MANY_CONNECTIONS: 'RATE_LIMITED',
  /** RATE_LIMITED: this socket already follows as many topics as allowed. */
  TOO_MANY_SUBSCRIPTIONS: 'RATE_LIMITED',
  /** BAD_REQUEST: the batch would add an instance to a topic holding PULSE_MAX_INSTANCES_PER_TOPIC; nothing appended. */
  INSTANCE_LIMIT: 'BAD_REQUEST',
  /** BAD_REQUEST: the topic holds PULSE_MAX_RULES_PER_TOPIC rules and the PUT would add another; nothing appended. */
  RULE_LIMIT: 'BAD_REQUEST',
  /** BAD_REQUEST: the append would create a topic while PULSE_MAX_TOPICS exist; nothing appended. */
  TOPIC_LIMIT: 'BAD_REQUEST',
  /** RATE_LIMITED: this token already created PULSE_TOPIC_QUOTA topics in the window; nothing appended (`retryAfterMs`: when the window ends). */
  TOPIC_QUOTA: 'RATE_LIMITED',
  /** BAD_REQUEST: the handshake's `auth.protocol` is not the protocol version the gateway speaks (`protocol` says which it does). */
  PROTOCOL_MISMATCH: 'BAD_REQUEST',
} as const satisfies Record<string, ErrorCode>;
export type ErrorReason = keyof typeof ERROR_REASONS;

/** One problem with an input: where (`path`, dotted) and what is wrong. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** The failure shape of every socket ack and REST error body. */
export interface ErrorBody {
  ok: false;
  code: ErrorCode;
  message: string;
  /** Field-level problems, for BAD_REQUEST. */
  issues?: FieldIssue[];
  /** The finer reason of an UNAUTHORIZED, FORBIDDEN or RATE_LIMITED answer. */
  reason?: ErrorReason;
  /** RATE_LIMITED: when trying again can succeed. */
  retryAfterMs?: number;
  /** PROTOCOL_MISMATCH: the protocol version the gateway speaks. */
  protocol?: number;
}

/** An error body for `reason`, with the code that goes with it. */
export function refusal(reason: ErrorReason, message: string, retryAfterMs?: number): ErrorBody {
  return {
    ok: false,
    code: ERROR_REASONS[reason],
    reason,
    message,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/** Turns zod issues into field issues with dotted paths (`events.0.type`). */
export function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
}

/** One line naming every problem, e.g. `since.seq: expected a number; topic: expected a topic name`. */
export function describeIssues(issues: FieldIssue[]): string {
  return issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
}

export function badRequest(error: z.ZodError): ErrorBody {
  const issues = fieldIssues(error);
  return { ok: false, code: 'BAD_REQUEST', message: describeIssues(issues), issues };
}

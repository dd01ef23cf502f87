// Stable error codes and the error body shared by REST answers and socket acks.
import type { z } from 'zod';

/** Stable error codes: clients switch on these, never on messages. */
export const ERROR_CODES = ['BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'RATE_LIMITED', 'UNAVAILABLE'] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

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

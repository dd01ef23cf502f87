// A refused request: the status REST answers with, and the error body both edges send.
import type { ErrorBody } from '#pulse/contracts';

export class AccessDenied extends Error {
  constructor(
    readonly status: 401 | 403 | 429,
    readonly body: ErrorBody,
  ) {
    super(body.message);
    this.name = 'AccessDenied';
  }
}

// REST errors: one body shape ({ ok: false, code, message, issues? }) for every failure, thrown or not.
import type { ServerResponse } from 'node:http';
import { ArgumentsHost, Catch, HttpException, Inject, Injectable, Logger, type ExceptionFilter } from '@nestjs/common';
import type { z } from 'zod';
import { badRequest, type ErrorBody, type ErrorCode } from '#pulse/contracts';
import { AccessDenied } from '../auth/access-denied.js';
import { MetricsService } from '../metrics/metrics.service.js';

export class PulseHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(body.message);
  }

  static of(status: number, code: ErrorCode, message: string): PulseHttpError {
    return new PulseHttpError(status, { ok: false, code, message });
  }
}

/** Parses input with a schema, or throws 400 BAD_REQUEST naming every wrong field under `prefix`. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, prefix?: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const body = badRequest(result.error);
  if (prefix) {
    body.issues = body.issues!.map((issue) => ({
      ...issue,
      path: issue.path === '(root)' ? prefix : `${prefix}.${issue.path}`,
    }));
    body.message = body.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
  }
  throw new PulseHttpError(400, body);
}

/** Answers `body` as JSON with `status`, on any response (Express's or one served past it). */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(text));
  response.end(text);
}

const topicsLogger = new Logger('Topics');

/** 503 for a failed Redis call: the client learns that it may retry; why (Redis's error text) goes to the log only. */
export function topicUnavailable(topic: string, error: unknown): PulseHttpError {
  topicsLogger.warn(`the log of ${topic} cannot be reached: ${(error as Error)?.message ?? String(error)}`);
  return PulseHttpError.of(
    503,
    'UNAVAILABLE',
    `the log of ${topic} cannot be reached now; retry shortly (events with an idempotencyKey are appended at most once)`,
  );
}

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'BAD_REQUEST',
  415: 'BAD_REQUEST',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
};

/** Maps anything thrown in a request to the error body; unknown errors are logged and answered 500. */
@Catch()
@Injectable()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    this.answer(exception, host.switchToHttp().getResponse<ServerResponse>());
  }

  /** Answers the error on `response`: Nest's routes through catch(), the ingest route directly. */
  answer(exception: unknown, response: ServerResponse): void {
    // Too late for an error answer (as Nest's own filter does): end what was sent.
    if (response.headersSent) {
      this.logger.warn(`an error after the answer had begun: ${(exception as Error)?.message ?? String(exception)}`);
      response.end();
      return;
    }
    if (exception instanceof AccessDenied) this.metrics.refused('rest', exception.body.reason ?? exception.body.code);
    const [status, body] = this.describe(exception);
    if (body.retryAfterMs !== undefined) response.setHeader('Retry-After', String(Math.ceil(body.retryAfterMs / 1000)));
    sendJson(response, status, body);
  }

  private describe(exception: unknown): [number, ErrorBody] {
    if (exception instanceof PulseHttpError || exception instanceof AccessDenied)
      return [exception.status, exception.body];
    // body-parser errors (malformed JSON, oversize body): Nest wraps them, the original is the cause.
    const parserError =
      ((exception instanceof HttpException ? exception.cause : exception) as
        { type?: string; status?: number; limit?: number } | undefined) ?? {};
    if (parserError.type === 'entity.parse.failed')
      return [
        400,
        {
          ok: false,
          code: 'BAD_REQUEST',
          message: 'body: malformed JSON',
          issues: [{ path: 'body', message: 'malformed JSON' }],
        },
      ];
    if (parserError.type === 'entity.too.large')
      return [
        413,
        {
          ok: false,
          code: 'BAD_REQUEST',
          message: `body: larger than the ${parserError.limit} byte limit`,
          issues: [{ path: 'body', message: 'too large' }],
        },
      ];
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      return [status, { ok: false, code: CODE_BY_STATUS[status] ?? 'BAD_REQUEST', message: exception.message }];
    }
    if (typeof parserError.status === 'number' && parserError.status >= 400 && parserError.status < 500) {
      return [
        parserError.status,
        { ok: false, code: CODE_BY_STATUS[parserError.status] ?? 'BAD_REQUEST', message: (exception as Error).message },
      ];
    }
    this.logger.error(`unhandled error: ${(exception as Error)?.stack ?? String(exception)}`);
    return [500, { ok: false, code: 'UNAVAILABLE', message: 'internal error; the gateway log has the details' }];
  }
}

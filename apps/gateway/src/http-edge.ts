// What every REST request passes before its route, in order: request id and log, drain, origin, CORS, token before body, JSON body.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import bodyParser from 'body-parser';
import cors from 'cors';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { PulseConfig } from '#pulse/config';
import { refusal } from '#pulse/contracts';
import { sendJson } from './api/http-error.js';
import { AuthService } from './auth/auth.service.js';
import { OriginPolicy } from './auth/origin-policy.js';
import { refuseBodiesWithoutToken } from './auth/pre-auth.js';
import { GatewayDrain } from './live/gateway-drain.js';
import { MetricsService } from './metrics/metrics.service.js';

/** One step of the edge, connect-style: it calls `next` to pass the request on, or answers it itself. */
export type EdgeStep = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void;

/** An incoming x-request-id is kept when it looks like one; otherwise the gateway makes one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The steps, built once: Express runs them (app.use) before every route, and the ingest route,
 * which is served past Express, runs the same ones (`runEdge`), so both answer alike.
 */
export function httpEdge(app: INestApplication, config: PulseConfig, logger: Logger): EdgeStep[] {
  const drain = app.get(GatewayDrain);
  const origins = app.get(OriginPolicy);
  const metrics = app.get(MetricsService);
  return [
    pinoHttp({
      logger,
      genReqId: (request: IncomingMessage, response: ServerResponse) => {
        const given = request.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        response.setHeader('x-request-id', id);
        return id;
      },
      // Successful requests only at debug: an ingest-heavy gateway would log little else.
      customLogLevel: (_request, response, error) =>
        error || response.statusCode >= 500 ? 'error' : response.statusCode >= 400 ? 'info' : 'debug',
      // No headers at all in request logs: nothing there (Authorization, cookies) can leak.
      serializers: {
        // The path without its query: a query may carry what a caller should not have put there.
        req: (request: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
          id: request.id,
          method: request.method,
          url: request.url.split('?')[0],
          remoteAddress: request.remoteAddress,
        }),
        res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
      },
    }),
    // While draining, every answer closes its connection: clients do not send more on it.
    (_request, response, next) => {
      if (drain.draining) response.setHeader('Connection', 'close');
      next();
    },
    // A page from a site not on the list gets nothing: not even a request with side effects (CSRF);
    // with auth off, neither does a request for a host name this gateway does not serve (DNS rebinding).
    (request, response, next) => {
      const problem = origins.problem(request.headers, request.socket.remoteAddress);
      if (problem === null) return next();
      sendJson(response, 403, refusal('ORIGIN_FORBIDDEN', problem));
    },
    cors({
      origin: origins.corsOrigin,
      allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
      exposedHeaders: ['x-request-id', 'retry-after', 'link'],
    }),
    // With auth on, a body is read only after its token passed: a request without one costs no parsing.
    refuseBodiesWithoutToken(app.get(AuthService), (body) => metrics.refused('rest', body.reason ?? body.code)),
    bodyParser.json({ limit: config.PULSE_MAX_BODY_BYTES }),
  ];
}

/**
 * Runs the edge's steps on a request, then `done` once (with the error a step passed on or threw,
 * if one did). A step that answers the request itself does not call `next`: `done` never runs.
 */
export function runEdge(
  steps: readonly EdgeStep[],
  request: IncomingMessage,
  response: ServerResponse,
  done: (error?: unknown) => void,
): void {
  let index = 0;
  let finished = false;
  const finish = (error?: unknown): void => {
    if (finished) return;
    finished = true;
    done(error);
  };
  const next = (error?: unknown): void => {
    if (finished) return;
    if (error !== undefined && error !== null) return finish(error);
    const step = steps[index++];
    if (!step) return finish();
    try {
      step(request, response, next);
    } catch (thrown) {
      finish(thrown);
    }
  };
  next();
}

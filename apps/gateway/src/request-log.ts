// One log line per HTTP request, at a level chosen by its outcome, with a request id kept or made and sent back; built only when that level is logged.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';

/** An incoming x-request-id is kept when it looks like one; otherwise the gateway makes one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Express middleware (first in the chain): gives every request an id (`x-request-id`, kept from
 * the request when it looks like one) and logs it once answered: errors and 5xx at error, 4xx at
 * info, the rest at debug, as `{ req: { id, method, url, remoteAddress }, res: { statusCode },
 * responseTime }` — no headers (nothing there, Authorization or cookies, can leak) and the path
 * without its query (a query may carry what a caller should not have put there). The line, and
 * the child logger behind it, are only made when its level is enabled: an ingest-heavy gateway
 * logs little else, and pays nothing per request for lines it does not write.
 */
export function requestLog(logger: Logger) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const given = request.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    (request as Request & { id?: string }).id = id;
    response.setHeader('x-request-id', id);
    const started = Date.now();
    // Read now: once the connection is gone the socket no longer knows its peer.
    const remoteAddress = request.socket.remoteAddress;
    let errored: Error | undefined;
    const onError = (error: Error) => (errored = error);
    response.once('error', onError);
    response.once('close', () => {
      response.removeListener('error', onError);
      const status = response.statusCode;
      const failed = errored !== undefined || status >= 500;
      const level = failed ? 'error' : status >= 400 ? 'info' : 'debug';
      if (!logger.isLevelEnabled(level)) return;
      const fields = {
        req: { id, method: request.method, url: (request.originalUrl ?? request.url).split('?')[0], remoteAddress },
        res: { statusCode: status },
        responseTime: Date.now() - started,
      };
      if (failed)
        logger[level]({ ...fields, err: errored ?? new Error(`failed with status code ${status}`) }, 'request errored');
      else
        logger[level](
          fields,
          !request.readableAborted && response.writableEnded ? 'request completed' : 'request aborted',
        );
    });
    next();
  };
}

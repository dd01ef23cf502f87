// Before any body is read: with auth on, a request that carries a body but no valid token is refused without reading it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorBody } from '#pulse/contracts';
import { sendJson } from '../api/http-error.js';
import { AccessDenied } from './access-denied.js';
import { AuthService, tokenFromHeader } from './auth.service.js';
import type { WithPrincipal } from './http-auth.guard.js';

/** Whether the request announces a body (Content-Length above 0, or a chunked one). */
function carriesBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Express middleware that runs before the body parser: with auth on, a request with a body is
 * authenticated from its Authorization header first, and one without a valid token is answered
 * 401 at once, its connection closed, without its body being read or parsed. The principal it
 * found is kept on the request for the route's guard. Every route that takes a body needs a
 * token; requests without a body pass on to the guard as before.
 */
export function refuseBodiesWithoutToken(auth: AuthService, onRefused: (body: ErrorBody) => void) {
  return (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void): void => {
    if (!auth.enabled || !carriesBody(request)) return next();
    auth.authenticate(tokenFromHeader(request.headers.authorization)).then(
      (principal) => {
        (request as WithPrincipal).principal = principal;
        next();
      },
      (error: unknown) => {
        if (!(error instanceof AccessDenied)) return next(error);
        onRefused(error.body);
        // The unread body stays unread: the connection closes after this answer.
        response.setHeader('Connection', 'close');
        sendJson(response, error.status, error.body);
      },
    );
  };
}

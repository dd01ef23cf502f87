// Gateway process entry: validate config, then serve Socket.IO, REST, the API documents and the dashboard on HOST:PORT.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { pinoHttp } from 'pino-http';
import { exitIfShutdownHangs, loadConfigOrExit } from '#pulse/config';
import { refusal } from '#pulse/contracts';
import { createLogger, PinoNestLogger } from '#pulse/logging';
import { mountBullBoard } from './admin/bull-board.js';
import { AuthService } from './auth/auth.service.js';
import { OriginPolicy } from './auth/origin-policy.js';
import { refuseBodiesWithoutToken } from './auth/pre-auth.js';
import { openApiDocument } from './docs/openapi.js';
import { dashboardHeaders } from './dashboard-headers.js';
import { GatewayIoAdapter } from './gateway-io.adapter.js';
import { GatewayModule } from './gateway.module.js';
import { GatewayDrain } from './live/gateway-drain.js';
import { MetricsService } from './metrics/metrics.service.js';

/** An incoming x-request-id is kept when it looks like one; otherwise the gateway makes one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** How long an idle keep-alive connection stays open: longer than clients and proxies keep theirs. */
const LISTEN_BACKLOG = 4096;
const KEEP_ALIVE_MS = 65_000;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger('gateway', config.LOG_LEVEL);
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule.forRoot(config), {
    bodyParser: false,
    logger: new PinoNestLogger(logger),
  });
  app.use(
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
  );
  // While draining, every answer closes its connection: clients do not send more on it.
  const drain = app.get(GatewayDrain);
  app.use((_request: Request, response: Response, next: NextFunction) => {
    if (drain.draining) response.setHeader('Connection', 'close');
    next();
  });
  const origins = app.get(OriginPolicy);
  // A page from a site not on the list gets nothing: not even a request with side effects (CSRF);
  // with auth off, neither does a request for a host name this gateway does not serve (DNS rebinding).
  app.use((request: Request, response: Response, next: NextFunction) => {
    const problem = origins.problem(request.headers, request.socket.remoteAddress);
    if (problem === null) return next();
    response.status(403).json(refusal('ORIGIN_FORBIDDEN', problem));
  });
  app.enableCors({
    origin: origins.corsOrigin,
    allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
    exposedHeaders: ['x-request-id', 'retry-after', 'link'],
  });
  // With auth on, a body is read only after its token passed: a request without one costs no parsing.
  const metrics = app.get(MetricsService);
  app.use(refuseBodiesWithoutToken(app.get(AuthService), (body) => metrics.refused('rest', body.reason ?? body.code)));
  app.useBodyParser('json', { limit: config.PULSE_MAX_BODY_BYTES });
  app.useWebSocketAdapter(new GatewayIoAdapter(app));
  SwaggerModule.setup('docs', app, openApiDocument() as unknown as OpenAPIObject, {
    jsonDocumentUrl: 'docs/openapi.json',
  });
  mountBullBoard(app);
  const securityHeaders = dashboardHeaders(config.PULSE_PUBLIC_URL.map((url) => new URL(url).origin));
  app.useStaticAssets(fileURLToPath(new URL('../../../../apps/dashboard/dist', import.meta.url)), {
    index: 'index.html',
    // Vite names assets by content hash: they never change; the page itself is always revalidated.
    setHeaders: (response: ServerResponse, path: string) => {
      response.setHeader(
        'Cache-Control',
        path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
      for (const [name, value] of Object.entries(securityHeaders)) response.setHeader(name, value);
    },
  });
  // SIGTERM/SIGINT: Nest's shutdown hooks drain the gateway (GatewayDrain), within a bound.
  app.enableShutdownHooks();
  exitIfShutdownHangs('Pulse gateway', config.PULSE_SHUTDOWN_TIMEOUT_MS);
  // A reconnect storm (every client of a restarted fleet at once) overflows Node's default accept
  // queue of 511: dropped SYNs wait for TCP's 1 s, 2 s, 4 s… retries. 10,000 clients reconnecting
  // with `since` were all current after 77 s with 511 and 33 s with 4,096 (npm run bench:scale,
  // --backlog). The kernel caps it at net.core.somaxconn (4,096 by default since Linux 5.4).
  // Nest's typings leave out the backlog, which its listen() passes on to Node's server.listen.
  const listen = app.listen.bind(app) as unknown as (port: number, host: string, backlog: number) => Promise<unknown>;
  await listen(config.PORT, config.HOST, LISTEN_BACKLOG);
  const server = app.getHttpServer();
  // Idle keep-alive connections stay open longer than a client or proxy keeps them (undici: 4 s,
  // load balancers: 60 s), so the server never closes one just as a request is sent on it, which
  // the client sees as "other side closed" (Node's 5 s default did, on a busy machine).
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1000;
  const { port } = server.address() as AddressInfo;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  // Scripts and tests wait for this line (PORT=0 picks a free port): printed whatever LOG_LEVEL hides.
  process.stdout.write(`Pulse gateway listening on http://${host}:${port}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`Pulse gateway failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});

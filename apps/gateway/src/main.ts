// Gateway process entry: validate config, then serve Socket.IO, REST, the API documents and the dashboard on HOST:PORT.
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { exitIfShutdownHangs, loadConfigOrExit } from '#pulse/config';
import { createLogger, PinoNestLogger } from '#pulse/logging';
import { mountBullBoard } from './admin/bull-board.js';
import { IngestRoute } from './api/ingest.route.js';
import { openApiDocument } from './docs/openapi.js';
import { dashboardHeaders } from './dashboard-headers.js';
import { GatewayIoAdapter } from './gateway-io.adapter.js';
import { GatewayModule } from './gateway.module.js';
import { httpEdge } from './http-edge.js';

/** The accept queue's length (see listen below). */
const LISTEN_BACKLOG = 4096;
/** How long an idle keep-alive connection stays open: longer than clients and proxies keep theirs. */
const KEEP_ALIVE_MS = 65_000;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger('gateway', config.LOG_LEVEL);
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule.forRoot(config), {
    bodyParser: false,
    logger: new PinoNestLogger(logger),
  });
  // The steps before every route: Express runs them, and so does the ingest route in front of it.
  const edge = httpEdge(app, config, logger);
  for (const step of edge) app.use(step);
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
  await app.init();
  // Ingest is served in front of Express, through the same edge (IngestRoute says why).
  app.get(IngestRoute).serveBefore(app.getHttpServer(), edge);
  // SIGTERM/SIGINT: Nest's shutdown hooks drain the gateway (GatewayDrain), within a bound. It then
  // exits (code 0) rather than re-raising the signal: pino writes its lines asynchronously and
  // flushes them on 'exit', which a re-raised signal skips (the drain's summary was lost that way
  // under load).
  app.enableShutdownHooks(undefined, { useProcessExit: true });
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

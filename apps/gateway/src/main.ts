// Gateway process entry: validate config, then serve Socket.IO, REST and the dashboard on HOST:PORT.
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { exitIfShutdownHangs, loadConfigOrExit, nestLogLevels } from '#pulse/config';
import { GatewayModule } from './gateway.module.js';
import { RedisIoAdapter } from './live/redis-io.adapter.js';

/** Largest REST body: 500 events of a few hundred bytes each fit comfortably. */
const MAX_BODY = '1mb';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule.forRoot(config), {
    bodyParser: false,
    logger: nestLogLevels(config.LOG_LEVEL),
  });
  app.useBodyParser('json', { limit: MAX_BODY });
  app.useWebSocketAdapter(new RedisIoAdapter(app));
  app.useStaticAssets(fileURLToPath(new URL('../../../../apps/dashboard/dist', import.meta.url)), {
    index: 'index.html',
    // Vite names assets by content hash: they never change; the page itself is always revalidated.
    setHeaders: (response: ServerResponse, path: string) => {
      response.setHeader('Cache-Control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  // SIGTERM/SIGINT: Nest's shutdown hooks drain (gateway) or let the running tick finish (worker), within a bound.
  app.enableShutdownHooks();
  exitIfShutdownHangs('Pulse gateway', config.PULSE_SHUTDOWN_TIMEOUT_MS);
  await app.listen(config.PORT, config.HOST);
  const { port } = app.getHttpServer().address() as AddressInfo;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  // Scripts and tests wait for this line (PORT=0 picks a free port): printed whatever LOG_LEVEL hides.
  process.stdout.write(`Pulse gateway listening on http://${host}:${port}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`Pulse gateway failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});

// Worker process entry: validate config, then run the monitor tick scheduler (and the demo fleet if asked).
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { exitIfShutdownHangs, loadConfigOrExit, nestLogLevels } from '#pulse/config';
import { WorkerModule } from './worker.module.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger: nestLogLevels(config.LOG_LEVEL) });
  // SIGTERM/SIGINT: Nest's shutdown hooks drain (gateway) or let the running tick finish (worker), within a bound.
  app.enableShutdownHooks();
  exitIfShutdownHangs('Pulse worker', config.PULSE_SHUTDOWN_TIMEOUT_MS);
  await app.init();
  // Scripts and tests wait for this line: printed whatever LOG_LEVEL hides.
  process.stdout.write(`Pulse worker ready (tick every ${config.PULSE_TICK_MS} ms)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`Pulse worker failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});

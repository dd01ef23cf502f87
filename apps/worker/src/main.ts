// Worker process entry: validate config, then run the monitor tick scheduler (and the demo fleet if asked).
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { exitIfShutdownHangs, loadConfigOrExit } from '#pulse/config';
import { createLogger, PinoNestLogger } from '#pulse/logging';
import { WorkerModule } from './worker.module.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), {
    logger: new PinoNestLogger(createLogger('worker', config.LOG_LEVEL)),
  });
  // SIGTERM/SIGINT: Nest's shutdown hooks let the running tick finish, within a bound.
  // Exit (code 0) once shut down, rather than re-raising the signal: pino flushes its lines on 'exit'.
  app.enableShutdownHooks(undefined, { useProcessExit: true });
  exitIfShutdownHangs('Pulse worker', config.PULSE_SHUTDOWN_TIMEOUT_MS);
  await app.init();
  // Scripts and tests wait for this line: printed whatever LOG_LEVEL hides.
  process.stdout.write(`Pulse worker ready (tick every ${config.PULSE_TICK_MS} ms)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`Pulse worker failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});

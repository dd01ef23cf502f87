// Graceful drain of a gateway on SIGTERM: stop accepting, move the clients elsewhere, finish requests in flight.
import type { Server as HttpServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { LiveHub } from './live-hub.js';

/**
 * Runs before Nest closes the servers and the Redis connections (which come after, in their
 * shutdown hooks): by then no client is left and no request is in flight.
 */
@Injectable()
export class GatewayDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Drain');
  /** True from the start of shutdown: readiness answers 503. */
  draining = false;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(LiveHub) private readonly hub: LiveHub,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
  ) {}

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const started = Date.now();
    const server = this.adapterHost.httpAdapter?.getHttpServer() as HttpServer | undefined;
    // No new connections from here on: a load balancer sends new clients to the other gateways.
    const requestsDone = server?.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server?.closeIdleConnections();
    const moved = await this.hub.drain(this.config.PULSE_DRAIN_MS);
    this.logger.log(`${signal ?? 'shutdown'}: closed ${moved} socket connection(s) over ${Date.now() - started} ms; finishing requests in flight`);
    // Requests in flight (appends among them) finish; keep-alive connections are closed as soon
    // as they are idle; what is still open at the bound is cut.
    let done = false;
    void requestsDone.then(() => (done = true));
    const deadline = started + Math.max(this.config.PULSE_SHUTDOWN_TIMEOUT_MS - 1000, 0);
    while (!done && Date.now() < deadline) {
      server?.closeIdleConnections();
      await Promise.race([requestsDone, sleep(50)]);
    }
    if (!done) {
      this.logger.warn(`connections still open ${Date.now() - started} ms into the shutdown: closing them`);
      server?.closeAllConnections();
    }
  }
}

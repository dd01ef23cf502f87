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
/** Time kept after the drain for Nest to close the servers and the Redis connections. */
export const DISPOSE_MARGIN_MS = 2000;

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
    // No new connections from here on (and no new socket on an old connection: the Socket.IO
    // handshake is refused while draining): a load balancer sends new clients to the other gateways.
    const requestsDone = server?.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    // Keep-alive connections are closed as soon as they are idle, from now to the end.
    const idleCloser = setInterval(() => server?.closeIdleConnections(), 50);
    server?.closeIdleConnections();
    try {
      const moved = await this.hub.drain(this.config.PULSE_DRAIN_MS);
      this.logger.log(`${signal ?? 'shutdown'}: closed ${moved} socket connection(s) over ${Date.now() - started} ms; finishing requests in flight`);
      // Requests in flight (appends among them) finish; what is still open at the bound is cut.
      const bound = Math.max(started + this.config.PULSE_SHUTDOWN_TIMEOUT_MS - DISPOSE_MARGIN_MS - Date.now(), 0);
      const finished = await Promise.race([requestsDone.then(() => true), sleep(bound).then(() => false)]);
      if (!finished) {
        // A socket that got in before the listener closed, and anything else still open.
        const late = await this.hub.drain(0);
        this.logger.warn(`connections still open ${Date.now() - started} ms into the shutdown (${late} socket(s)): closing them`);
        server?.closeAllConnections();
      }
    } finally {
      clearInterval(idleCloser);
    }
  }
}

// Graceful drain of a gateway on SIGTERM: stop accepting, move the clients elsewhere, finish requests in flight.
import type { Server as HttpServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { LiveGateway } from './live.gateway.js';
import type { PulseServer } from './live-socket.js';

/** A drain closes sockets in at most this many waves. */
const DRAIN_WAVES = 10;

/**
 * Closes the connection of every socket of this process, in waves spread over `spreadMs`, so
 * that their clients reconnect (through the load balancer, to other gateways) and resume from
 * their last seq without all arriving at once. Closing the transport, not disconnecting the
 * socket, makes plain socket.io clients reconnect by themselves too. Resolves with the count.
 */
export async function closeInWaves(server: PulseServer | undefined, spreadMs: number): Promise<number> {
  const sockets = [...(server?.sockets.sockets.values() ?? [])];
  const waves = Math.max(1, Math.min(DRAIN_WAVES, sockets.length));
  const perWave = Math.ceil(sockets.length / waves);
  for (let wave = 0; wave < waves; wave++) {
    if (wave > 0) await sleep(spreadMs / waves);
    for (const socket of sockets.slice(wave * perWave, (wave + 1) * perWave)) socket.conn.close();
  }
  return sockets.length;
}

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
    @Inject(LiveGateway) private readonly gateway: LiveGateway,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
  ) {}

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const started = Date.now();
    const server = this.adapterHost.httpAdapter?.getHttpServer() as HttpServer | undefined;
    // No new connections from here on (and no new socket on an old connection: the Socket.IO
    // handshake is refused while draining): a load balancer sends new clients to the other gateways.
    const requestsDone = server?.listening
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    // Keep-alive connections are closed as soon as they are idle, from now to the end.
    const idleCloser = setInterval(() => server?.closeIdleConnections(), 50);
    server?.closeIdleConnections();
    try {
      const moved = await closeInWaves(this.gateway.server, this.config.PULSE_DRAIN_MS);
      this.logger.log(
        `${signal ?? 'shutdown'}: closed ${moved} socket connection(s) over ${Date.now() - started} ms; finishing requests in flight`,
      );
      // Requests in flight (appends among them) finish; what is still open at the bound is cut.
      const bound = Math.max(started + this.config.PULSE_SHUTDOWN_TIMEOUT_MS - DISPOSE_MARGIN_MS - Date.now(), 0);
      const finished = await Promise.race([requestsDone.then(() => true), sleep(bound).then(() => false)]);
      if (!finished) {
        // A socket that got in before the listener closed, and anything else still open.
        const late = await closeInWaves(this.gateway.server, 0);
        this.logger.warn(
          `connections still open ${Date.now() - started} ms into the shutdown (${late} socket(s)): closing them`,
        );
        server?.closeAllConnections();
      }
    } finally {
      clearInterval(idleCloser);
    }
  }
}

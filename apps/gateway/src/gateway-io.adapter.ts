// The gateway's Socket.IO server: the Redis adapter's, plus the origin check on handshake and upgrade, the token check, and metrics.
import type { INestApplicationContext } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Server, ServerOptions } from 'socket.io';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { OriginPolicy } from './auth/origin-policy.js';
import { SocketGuard } from './auth/socket-guard.js';
import { GatewayDrain } from './live/gateway-drain.js';
import { RedisIoAdapter } from './live/redis-io.adapter.js';
import { MetricsService } from './metrics/metrics.service.js';

export class GatewayIoAdapter extends RedisIoAdapter {
  constructor(private readonly nest: INestApplicationContext) {
    super(nest);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const config = this.nest.get<PulseConfig>(PULSE_CONFIG);
    const origins = new OriginPolicy(config.PULSE_ALLOWED_ORIGINS);
    const drain = this.nest.get(GatewayDrain);
    const server = super.createIOServer(port, {
      ...options,
      // Runs for the polling handshake and for the WebSocket upgrade alike: a page from another
      // site cannot open a socket with the user's network position (cross-site WebSocket hijacking).
      allowRequest: (request: IncomingMessage, callback: (error: string | null | undefined, success: boolean) => void) => {
        // A draining gateway takes no new socket, even on a keep-alive connection opened before.
        if (drain.draining) callback('this gateway is shutting down: connect again (to another gateway)', false);
        else if (origins.allows(request.headers)) callback(null, true);
        else callback(`origin ${request.headers.origin} is not allowed (PULSE_ALLOWED_ORIGINS)`, false);
      },
      cors: { origin: (origin: string | undefined, callback: (error: Error | null, allow?: boolean) => void) => callback(null, origins.corsAllows(origin)) },
    } as ServerOptions);
    this.nest.get(SocketGuard).install(server);
    this.nest.get(MetricsService).attachServer(server);
    return server;
  }
}

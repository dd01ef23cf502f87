// The gateway's Socket.IO server: the Redis adapter's, plus the drain check, the protocol version, the origin and token checks (SocketGuard), and metrics.
import type { INestApplicationContext } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Server, ServerOptions } from 'socket.io';
import { OriginPolicy } from './auth/origin-policy.js';
import { SocketGuard } from './auth/socket-guard.js';
import { GatewayDrain } from './live/gateway-drain.js';
import { RedisIoAdapter } from './live/redis-io.adapter.js';
import { MetricsService } from './metrics/metrics.service.js';
import { installProtocolVersion } from './protocol-version.js';

export class GatewayIoAdapter extends RedisIoAdapter {
  constructor(private readonly nest: INestApplicationContext) {
    super(nest);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const drain = this.nest.get(GatewayDrain);
    const server = super.createIOServer(port, {
      ...options,
      // engine.io asks this on the first request of a session only (a polling handshake, or a
      // WebSocket opened directly), not on the polling→WebSocket upgrade of a session, nor on
      // later polls. Origins are checked by the SocketGuard's middleware instead, before the
      // socket may send anything: its refusal carries the error body (ORIGIN_FORBIDDEN), which a
      // refusal here, a bare HTTP error, cannot.
      allowRequest: (
        _request: IncomingMessage,
        callback: (error: string | null | undefined, success: boolean) => void,
      ) => {
        // A draining gateway takes no new socket, even on a keep-alive connection opened before.
        if (drain.draining) callback('this gateway is shutting down: connect again (to another gateway)', false);
        else callback(null, true);
      },
      cors: { origin: this.nest.get(OriginPolicy).corsOrigin },
    } as ServerOptions);
    installProtocolVersion(server);
    this.nest.get(SocketGuard).install(server);
    this.nest.get(MetricsService).attachServer(server);
    return server;
  }
}

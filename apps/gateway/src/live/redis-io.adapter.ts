// Socket.IO server with the Redis adapter: the cross-process fabric for rooms, presence and targeted emits.
import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import type { Server, ServerOptions, Socket } from 'socket.io';
import { RedisConnections } from '#pulse/event-store';

/** Largest inbound Socket.IO frame; requests are small. */
export const MAX_FRAME_BYTES = 64 * 1024;

export class RedisIoAdapter extends IoAdapter {
  constructor(private readonly app: INestApplicationContext) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const connections = this.app.get(RedisConnections);
    // Pub/sub connections queue while Redis is away, and re-subscribe when it is back.
    const pub = connections.connect({
      name: 'pulse:gateway:adapter-pub',
      offlineQueue: true,
      maxRetriesPerRequest: null,
    });
    // No command timeout on the subscriber: the adapter (un)subscribes without handling a failure,
    // so a (S)SUBSCRIBE waits in the offline queue for Redis rather than rejecting unhandled.
    const sub = connections.connect({
      name: 'pulse:gateway:adapter-sub',
      offlineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeoutMs: 0,
      shardedSubscribers: true,
    });
    const server = super.createIOServer(port, { ...options, maxHttpBufferSize: MAX_FRAME_BYTES } as ServerOptions);
    // On a cluster, classic pub/sub copies every message to every node; sharded pub/sub keeps each
    // channel on one shard. Static mode: one channel per gateway set, not one per room, since the
    // adapter carries only presence and fetchSockets, and a room's (un)subscribe would be one more
    // command that can fail with nobody to handle it.
    server.adapter(
      connections.cluster
        ? createShardedAdapter(pub, sub, { channelPrefix: 'pulse:io', subscriptionMode: 'static' })
        : createAdapter(pub, sub, { key: 'pulse:io' }),
    );
    return server;
  }

  /**
   * Pulse's gateway binds its requests by hand (see LiveGateway), so Nest has none to bind; its
   * own method would still build an rxjs disconnect stream for every socket.
   */
  override bindMessageHandlers(
    socket: Socket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    if (handlers.length > 0) super.bindMessageHandlers(socket, handlers, transform);
  }

  /**
   * Nest's disconnect hook, turned off: it is a closure per socket (and, beside the SocketGuard's,
   * a second disconnect listener: an array in the socket's listener table), which an idle
   * connection carries for its whole life (bench: memory per idle connection). So Nest never calls
   * a gateway's `handleDisconnect`: Pulse's gateway hears of disconnects through the SocketGuard's
   * one shared listener (`SocketGuard.whenDisconnected`).
   */
  override bindClientDisconnect(): void {}
}

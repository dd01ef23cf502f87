// Socket.IO server with the Redis adapter: the cross-process fabric for rooms, presence and targeted emits.
import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Server, ServerOptions } from 'socket.io';
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
    const pub = connections.connect({ name: 'pulse:gateway:adapter-pub', offlineQueue: true, maxRetriesPerRequest: null });
    const sub = connections.connect({ name: 'pulse:gateway:adapter-sub', offlineQueue: true, maxRetriesPerRequest: null, shardedSubscribers: true });
    const server = super.createIOServer(port, { ...options, maxHttpBufferSize: MAX_FRAME_BYTES } as ServerOptions);
    // On a cluster, classic pub/sub copies every message to every node; sharded pub/sub keeps each
    // channel on one shard, and (dynamic mode, the default) each topic room has a channel of its
    // own, so a presence update reaches only the gateways with viewers of that topic.
    server.adapter(connections.cluster ? createShardedAdapter(pub, sub, { channelPrefix: 'pulse:io' }) : createAdapter(pub, sub, { key: 'pulse:io' }));
    return server;
  }
}

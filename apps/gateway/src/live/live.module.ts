// The live feed of one gateway process: its log tail, the hub that feeds sockets, and the Socket.IO gateway.
import { Inject, Logger, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import {
  ClusterLogReader,
  EventStore,
  LogReader,
  REDIS,
  RedisConnections,
  type RedisConnection,
} from '#pulse/event-store';
import { GatewayDrain } from './gateway-drain.js';
import { LiveGateway } from './live.gateway.js';
import { LiveHub } from './live-hub.js';
import { LogTail } from './log-tail.js';
import { Presence } from './presence.js';
import { SlowConsumerGuard } from './slow-consumer.js';

/** Longest blocking read; idle tails re-check epochs this often. */
const TAIL_BLOCK_MS = 5000;

@Module({
  providers: [
    {
      provide: LogTail,
      inject: [RedisConnections, REDIS, EventStore],
      useFactory: (connections: RedisConnections, commands: RedisConnection, store: EventStore) => {
        if (connections.cluster) {
          // One XREAD cannot span slots: wait on the topics' bells, one subscriber per shard.
          const reader = new ClusterLogReader(
            connections.connect({ name: 'pulse:gateway:tail', autoPipelining: true }) as Cluster,
            connections.connect({
              name: 'pulse:gateway:bells',
              offlineQueue: true,
              maxRetriesPerRequest: null,
              shardedSubscribers: true,
            }) as Cluster,
          );
          return new LogTail(reader, store, { unblock: () => Promise.resolve(reader.wake()) }, new Logger('LogTail'), {
            blockMs: TAIL_BLOCK_MS,
          });
        }
        // Blocking reads get a connection of their own, as BullMQ's QueueEvents does.
        const reading = connections.connect({
          name: 'pulse:gateway:tail',
          commandTimeoutMs: TAIL_BLOCK_MS + 2000,
        }) as Redis;
        const tail = new LogTail(
          new LogReader(reading),
          store,
          { unblock: async (id) => Number(await (commands as Redis).client('UNBLOCK', id)) === 1 },
          new Logger('LogTail'),
          { blockMs: TAIL_BLOCK_MS },
        );
        reading.on('close', () => tail.interrupt('the log tail connection closed'));
        return tail;
      },
    },
    { provide: Presence, useFactory: () => new Presence() },
    {
      provide: LiveHub,
      inject: [EventStore, LogTail, Presence, PULSE_CONFIG],
      useFactory: (store: EventStore, tail: LogTail, presence: Presence, config: PulseConfig) =>
        new LiveHub(store, tail, {
          slowConsumers: new SlowConsumerGuard(config.PULSE_SLOW_CONSUMER_BYTES, new Logger('SlowConsumers')),
          presence,
          maxSubscriptions: config.PULSE_MAX_SUBSCRIPTIONS,
          logger: new Logger('LiveHub'),
          maxAckBytes: config.PULSE_MAX_ACK_BYTES,
        }),
    },
    LiveGateway,
    GatewayDrain,
  ],
  exports: [LogTail, LiveHub, Presence, GatewayDrain],
})
export class LiveModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(LogTail) private readonly tail: LogTail,
    @Inject(LiveHub) private readonly hub: LiveHub,
    @Inject(Presence) private readonly presence: Presence,
  ) {}

  onApplicationBootstrap(): void {
    // The tail hands what it reads to the hub; the hub follows topics on the tail.
    this.tail.start(this.hub);
  }

  async onApplicationShutdown(): Promise<void> {
    this.presence.close();
    await this.tail.stop();
  }
}

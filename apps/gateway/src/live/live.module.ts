// The live feed of one gateway process: its log tail, the hub that feeds sockets, and the Socket.IO gateway.
import { Inject, Logger, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { ClusterLogReader, EventStore, LogReader, REDIS, RedisConnections, type RedisConnection } from '#pulse/event-store';
import { GatewayDrain } from './gateway-drain.js';
import type { PulseEvent, ResyncReason } from '#pulse/contracts';
import { LiveGateway } from './live.gateway.js';
import { LiveHub } from './live-hub.js';
import { LogTail } from './log-tail.js';
import { SlowConsumerGuard } from './slow-consumer.js';

/** Longest blocking read; idle tails re-check epochs this often. */
const TAIL_BLOCK_MS = 5000;

/** The tail and the hub call each other: the tail pushes events in, the hub follows topics. */
export const TAIL_AND_HUB = Symbol('TAIL_AND_HUB');

@Module({
  providers: [
    {
      provide: TAIL_AND_HUB,
      inject: [RedisConnections, REDIS, EventStore, PULSE_CONFIG],
      useFactory: (connections: RedisConnections, commands: RedisConnection, store: EventStore, config: PulseConfig) => {
        const hub: { current?: LiveHub } = {};
        const listener = { onEvents: (topic: string, events: PulseEvent[]) => hub.current!.onEvents(topic, events), onReset: (topic: string, reason: ResyncReason) => hub.current!.onReset(topic, reason) };
        let tail: LogTail;
        if (connections.cluster) {
          // One XREAD cannot span slots: wait on the topics' bells, one subscriber per shard.
          const reader = new ClusterLogReader(
            connections.connect({ name: 'pulse:gateway:tail', autoPipelining: true }) as Cluster,
            connections.connect({ name: 'pulse:gateway:bells', offlineQueue: true, maxRetriesPerRequest: null, shardedSubscribers: true }) as Cluster,
          );
          tail = new LogTail(reader, store, { unblock: () => Promise.resolve(reader.wake()) }, listener, new Logger('LogTail'), { blockMs: TAIL_BLOCK_MS });
        } else {
          // Blocking reads get a connection of their own, as BullMQ's QueueEvents does.
          const reading = connections.connect({ name: 'pulse:gateway:tail', commandTimeoutMs: TAIL_BLOCK_MS + 2000 }) as Redis;
          tail = new LogTail(
            new LogReader(reading),
            store,
            { unblock: async (id) => Number(await (commands as Redis).client('UNBLOCK', id)) === 1 },
            listener,
            new Logger('LogTail'),
            { blockMs: TAIL_BLOCK_MS },
          );
          reading.on('close', () => tail.interrupt('the log tail connection closed'));
        }
        hub.current = new LiveHub(store, tail, {
          slowConsumers: new SlowConsumerGuard(config.PULSE_SLOW_CONSUMER_BYTES, new Logger('SlowConsumers')),
          maxSubscriptions: config.PULSE_MAX_SUBSCRIPTIONS,
        });
        return { tail, hub: hub.current };
      },
    },
    { provide: LogTail, inject: [TAIL_AND_HUB], useFactory: (both: { tail: LogTail }) => both.tail },
    { provide: LiveHub, inject: [TAIL_AND_HUB], useFactory: (both: { hub: LiveHub }) => both.hub },
    LiveGateway,
    GatewayDrain,
  ],
  exports: [LogTail, LiveHub, GatewayDrain],
})
export class LiveModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(LogTail) private readonly tail: LogTail,
    @Inject(LiveHub) private readonly hub: LiveHub,
  ) {}

  onApplicationBootstrap(): void {
    this.tail.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.hub.close();
    await this.tail.stop();
  }
}

// The live feed of one gateway process: its log tail, the hub that feeds sockets, and the Socket.IO gateway.
import { Inject, Logger, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { BellLogReader, EventStore, RedisConnections } from '#pulse/event-store';
import { GatewayDrain } from './gateway-drain.js';
import { LiveGateway } from './live.gateway.js';
import { LiveHub } from './live-hub.js';
import { LogTail } from './log-tail.js';
import { Presence } from './presence.js';
import { SlowConsumerGuard } from './slow-consumer.js';

/** Longest wait of a tail's read, and most time between reads of every followed log; idle tails re-check epochs this often. */
const TAIL_BLOCK_MS = 5000;

@Module({
  providers: [
    {
      provide: LogTail,
      inject: [RedisConnections, EventStore],
      useFactory: (connections: RedisConnections, store: EventStore) => {
        // The bells on a subscriber of their own (one per shard on a cluster); the log's reads on
        // another connection (pipelined per node on a cluster), off the request path's.
        const bells = connections.connect({
          name: 'pulse:gateway:bells',
          offlineQueue: true,
          maxRetriesPerRequest: null,
          shardedSubscribers: connections.cluster,
        });
        const reader = new BellLogReader(
          connections.connect({ name: 'pulse:gateway:tail', autoPipelining: connections.cluster }),
          bells,
          { fullReadMs: TAIL_BLOCK_MS },
        );
        const tail = new LogTail(reader, store, new Logger('LogTail'), { blockMs: TAIL_BLOCK_MS });
        // A wait on a subscriber that is gone would never end by a bell: the tail reads again (and
        // checks every topic's epoch) once the subscriber is back.
        if (!connections.cluster) bells.on('close', () => tail.interrupt('the bell subscriber connection closed'));
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

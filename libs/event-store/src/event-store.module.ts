// Nest wiring of the event store: named Redis connections owned (and closed) in one place, and the store.
import {
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { EventStore, type EventStoreOptions } from './event-store.js';
import {
  createCluster,
  createRedis,
  reportOutages,
  waitForReady,
  type ConnectionOptions,
  type RedisConnection,
} from './redis.js';

/** Opens every Redis connection of a process and closes them all at shutdown. */
@Injectable()
export class RedisConnections implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private readonly open = new Set<RedisConnection>();
  constructor(@Inject(PULSE_CONFIG) private readonly config: PulseConfig) {}

  /** True when REDIS_URL names a Redis Cluster (REDIS_CLUSTER=1). */
  get cluster(): boolean {
    return this.config.REDIS_CLUSTER;
  }

  /** A new connection to REDIS_URL (a cluster connection with REDIS_CLUSTER=1); errors are logged once per outage, not per retry. */
  connect(options: ConnectionOptions): RedisConnection {
    const redis = reportOutages(
      this.cluster ? createCluster(this.config.REDIS_URL, options) : createRedis(this.config.REDIS_URL, options),
      options.name,
      this.logger,
    );
    this.open.add(redis);
    return redis;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(
      [...this.open].map(async (redis) => {
        try {
          await redis.quit();
        } catch {
          redis.disconnect();
        }
      }),
    );
    this.open.clear();
  }
}

/** The command connection of the process (offline queue off: a request fails fast while Redis is away). */
export const REDIS = Symbol('REDIS');

/** Warns at boot when Redis may evict keys: an evicted `meta` hash would break its topic's log. */
@Injectable()
export class EvictionPolicyCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('Redis');

  constructor(@Inject(REDIS) private readonly redis: RedisConnection) {}

  onApplicationBootstrap(): void {
    // Not awaited: a process starts (not ready) while Redis is away; managed Redis may refuse CONFIG.
    void waitForReady(this.redis, 'Redis', 60_000)
      .then(() => this.redis.config('GET', 'maxmemory-policy'))
      .then(
        ([, policy]) => {
          if (policy && policy !== 'noeviction') {
            this.logger.warn(
              `Redis maxmemory-policy is ${policy}: Pulse needs noeviction (an evicted key breaks a topic's log). Set maxmemory-policy noeviction.`,
            );
          }
        },
        () => undefined,
      );
  }
}

/** The store's options as a process's config sets them. */
export function eventStoreOptions(config: PulseConfig): EventStoreOptions {
  return {
    retention: config.PULSE_RETENTION,
    idempotencyWindowMs: config.PULSE_IDEMPOTENCY_WINDOW_MS,
    seriesRetentionMs: config.PULSE_SERIES_RETENTION,
    maxInstancesPerTopic: config.PULSE_MAX_INSTANCES_PER_TOPIC,
    instancesFullEvery: config.PULSE_INSTANCES_FULL_EVERY,
    maxTopics: config.PULSE_MAX_TOPICS,
    topicQuota: { count: config.PULSE_TOPIC_QUOTA, windowMs: config.PULSE_TOPIC_QUOTA_WINDOW_S * 1000 },
  };
}

/**
 * The process's Redis connections, its command connection (REDIS) and its EventStore on it.
 * `forRoot(commands)` tunes the command connection for a process's workload: the worker's ticks
 * pipeline their topics' scripts on it.
 */
@Global()
@Module({})
export class EventStoreModule {
  static forRoot(commands: Omit<ConnectionOptions, 'name'> = {}): DynamicModule {
    return {
      module: EventStoreModule,
      providers: [
        RedisConnections,
        {
          provide: REDIS,
          inject: [RedisConnections],
          useFactory: (connections: RedisConnections) => connections.connect({ ...commands, name: 'pulse:commands' }),
        },
        EvictionPolicyCheck,
        {
          provide: EventStore,
          inject: [REDIS, PULSE_CONFIG],
          useFactory: (redis: RedisConnection, config: PulseConfig) => new EventStore(redis, eventStoreOptions(config)),
        },
      ],
      exports: [RedisConnections, REDIS, EventStore],
    };
  }
}

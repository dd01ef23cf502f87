// Redis connections for Pulse processes: one factory, so every connection is named and behaves the same.
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** A connection to a single Redis or to a Redis Cluster (REDIS_CLUSTER=1). */
export type RedisConnection = Redis | Cluster;

export interface ConnectionOptions {
  /** Shown in CLIENT LIST, e.g. `pulse:gateway:tail`. */
  name: string;
  /**
   * Queue commands while disconnected. Off for request paths, so that an append fails at once
   * (503) instead of waiting for Redis; on for BullMQ, which needs it.
   * @default false
   */
  offlineQueue?: boolean;
  /** BullMQ needs null; request paths fail after one retry. @default 1 */
  maxRetriesPerRequest?: number | null;
  /**
   * A command without an answer after this long fails. It bounds requests in flight when Redis
   * stalls or the connection drops (ioredis does not fail those by itself when it does not resend them).
   * 0 for none (BullMQ's blocking commands).
   * @default 5000
   */
  commandTimeoutMs?: number;
  /** Sends the commands issued in one event-loop turn as one pipeline (per node on a cluster). @default false */
  autoPipelining?: boolean;
  /** Cluster only: one subscriber connection per shard, for SSUBSCRIBE. @default false */
  shardedSubscribers?: boolean;
}

const backoff = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

/** Opens a connection to `url`; it reconnects by itself with capped backoff, forever. */
export function createRedis(url: string, options: ConnectionOptions): Redis {
  return new Redis(url, connectionOptions(options));
}

/**
 * Opens a cluster connection from `seeds`, comma-separated redis:// URLs (credentials and TLS
 * from the first); it follows the cluster's slots and reconnects by itself, forever.
 */
export function createCluster(seeds: string, options: ConnectionOptions): Cluster {
  const urls = seeds.split(',').map((part) => new URL(part.trim()));
  const first = urls[0]!;
  const { lazyConnect, ...redisOptions } = connectionOptions(options);
  return new Cluster(
    urls.map((url) => ({ host: url.hostname, port: Number(url.port || 6379) })),
    {
      redisOptions: {
        ...redisOptions,
        username: first.username ? decodeURIComponent(first.username) : undefined,
        password: first.password ? decodeURIComponent(first.password) : undefined,
        tls: first.protocol === 'rediss:' ? {} : undefined,
      },
      lazyConnect,
      enableOfflineQueue: redisOptions.enableOfflineQueue,
      clusterRetryStrategy: backoff,
      // A command in flight on a connection that closes fails (the caller answers 503) instead of
      // being sent again to another node: an append may have run already (see connectionOptions).
      retryDelayOnFailover: 0,
      enableAutoPipelining: options.autoPipelining ?? false,
      shardedSubscribers: options.shardedSubscribers ?? false,
    },
  );
}

/**
 * BullMQ's connection: on a single Redis, options it opens (and closes) connections from; on a
 * cluster, a Cluster connection that BullMQ shares and duplicates, and that the caller closes
 * after closing its queues and workers.
 */
export function bullConnection(
  config: { REDIS_URL: string; REDIS_CLUSTER: boolean },
  name: string,
  logger: OutageLogger,
): { url: string; connectionName: string } | Cluster {
  if (!config.REDIS_CLUSTER) return { url: config.REDIS_URL, connectionName: name };
  return reportOutages(
    createCluster(config.REDIS_URL, { name, offlineQueue: true, maxRetriesPerRequest: null, commandTimeoutMs: 0 }),
    name,
    logger,
  );
}

export interface OutageLogger {
  warn(message: string): void;
  log(message: string): void;
}

/** Logs a connection's errors once per outage (not once per retry), and its return. */
export function reportOutages<T extends RedisConnection>(redis: T, name: string, logger: OutageLogger): T {
  let down = false;
  redis.on('error', (error: Error) => {
    if (!down) logger.warn(`${name}: ${error.message}; reconnecting`);
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.log(`${name}: connected again`);
    down = false;
  });
  return redis;
}

function connectionOptions(options: ConnectionOptions): RedisOptions {
  return {
    connectionName: options.name,
    enableOfflineQueue: options.offlineQueue ?? false,
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 1 : options.maxRetriesPerRequest,
    retryStrategy: backoff,
    // A command in flight when the connection drops fails instead of being sent again after the
    // reconnect: an append may have run already (resending could append twice).
    autoResendUnfulfilledCommands: false,
    // 0 must be left out, not passed: ioredis would time every command out at once.
    commandTimeout: options.commandTimeoutMs === 0 ? undefined : (options.commandTimeoutMs ?? 5000),
    lazyConnect: false,
    enableAutoPipelining: options.autoPipelining ?? false,
  };
}

/** Resolves once `redis` is ready, or rejects after `timeoutMs` with a message that says what to check. */
export async function waitForReady(redis: RedisConnection, url: string, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `Redis at ${url} is not reachable after ${timeoutMs} ms: start redis-server, or set REDIS_URL to a running one`,
        ),
      );
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

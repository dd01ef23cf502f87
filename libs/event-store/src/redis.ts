// Redis connections for Pulse processes: one factory, so every connection is named and behaves the same.
import { Redis, type RedisOptions } from 'ioredis';

export interface ConnectionOptions {
  /** Shown in CLIENT LIST, e.g. `pulse-gateway:tail`. */
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
   * @default 5000; blocking readers pass their block time plus a margin
   */
  commandTimeoutMs?: number;
}

/** Opens a connection to `url`; it reconnects by itself with capped backoff, forever. */
export function createRedis(url: string, options: ConnectionOptions): Redis {
  const redisOptions: RedisOptions = {
    connectionName: options.name,
    enableOfflineQueue: options.offlineQueue ?? false,
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 1 : options.maxRetriesPerRequest,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
    // A command in flight when the connection drops fails instead of being sent again after the
    // reconnect: an append may have run already (resending could append twice), and a blocking
    // read would block again on a connection whose id the tail no longer knows.
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? 5000,
    lazyConnect: false,
  };
  return new Redis(url, redisOptions);
}

/** Resolves once `redis` is ready, or rejects after `timeoutMs` with a message that says what to check. */
export async function waitForReady(redis: Redis, url: string, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis at ${url} is not reachable after ${timeoutMs} ms: start redis-server, or set REDIS_URL to a running one`));
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


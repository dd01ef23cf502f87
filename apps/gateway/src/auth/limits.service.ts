// Request and connection limits: per token across gateways (Redis), per connection in this process.
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { refusal } from '#pulse/contracts';
import { RATE_LIMIT_PREFIX, REDIS, tokenConnectionsKey, tokenLimitKey, type RedisConnection } from '#pulse/event-store';
import type { Principal } from '#pulse/auth';
import { AccessDenied } from './access-denied.js';
import { ConnectionRates } from './connection-rates.js';

/** How often a gateway tells Redis its sockets are still open; an entry not refreshed for 3 periods (a crashed gateway) stops counting. */
export const CONNECTION_REFRESH_MS = 20_000;

/**
 * Registers one socket of a token unless it has `max` live ones already. Members are socket ids
 * scored with their last refresh; stale ones (a gateway that died) are dropped first.
 * KEYS[1] the token's zset; ARGV: socket id, now ms, stale-before ms, max, key ttl s. Returns 1 (added) or 0.
 */
const ADD_CONNECTION = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1`;

@Injectable()
export class LimitsService implements OnApplicationShutdown {
  private readonly perToken: RateLimiterRedis;
  private readonly perConnection: ConnectionRates;
  /** This gateway's open sockets per token key, refreshed in Redis periodically. */
  private readonly sockets = new Map<string, Set<string>>();
  private readonly refresher: ReturnType<typeof setInterval>;
  private readonly logger = new Logger('Limits');
  /** The last refresh failed: said once per outage, and once when it works again. */
  private refreshFailing = false;

  constructor(
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    @Inject(REDIS) private readonly redis: RedisConnection,
  ) {
    this.perToken = new RateLimiterRedis({
      storeClient: this.redis,
      keyPrefix: RATE_LIMIT_PREFIX,
      points: config.PULSE_RATE_LIMIT_TOKEN,
      duration: config.PULSE_RATE_LIMIT_WINDOW_S,
      // While Redis is away the limit still holds, per process.
      insuranceLimiter: new RateLimiterMemory({
        points: config.PULSE_RATE_LIMIT_TOKEN,
        duration: config.PULSE_RATE_LIMIT_WINDOW_S,
      }),
    });
    this.perConnection = new ConnectionRates(
      config.PULSE_RATE_LIMIT_CONNECTION,
      config.PULSE_RATE_LIMIT_WINDOW_S * 1000,
    );
    this.refresher = setInterval(() => void this.refreshConnections(), CONNECTION_REFRESH_MS);
    this.refresher.unref();
  }

  /** Counts one request of the token (across gateways); throws AccessDenied (429) past its rate. */
  async consumeToken(principal: Principal): Promise<void> {
    await this.consume(
      this.perToken,
      tokenLimitKey(principal.sub),
      `token ${principal.sub}`,
      this.config.PULSE_RATE_LIMIT_TOKEN,
    );
  }

  private get window(): string {
    return this.config.PULSE_RATE_LIMIT_WINDOW_S === 1 ? 'second' : `${this.config.PULSE_RATE_LIMIT_WINDOW_S} s`;
  }

  /** Counts one request of a connection; throws AccessDenied (429) past its rate. */
  consumeConnection(socketId: string): void {
    const waitMs = this.perConnection.consume(socketId);
    if (waitMs > 0) throw this.rateLimited(this.config.PULSE_RATE_LIMIT_CONNECTION, 'this connection', waitMs);
  }

  /**
   * Charges `points` more to the connection and (with auth on) the token, for a request about to
   * read that much more than one request's worth. Counted in full, even past the rate, while the
   * window has room (so that one large read is never refused for ever: the next requests wait);
   * throws AccessDenied (429) when it has none.
   */
  async charge(principal: Principal | null, socketId: string, points: number): Promise<void> {
    if (points <= 0) return;
    const waitMs = this.perConnection.charge(socketId, points);
    if (waitMs > 0) throw this.rateLimited(this.config.PULSE_RATE_LIMIT_CONNECTION, 'this connection', waitMs);
    if (!principal) return;
    const limit = this.config.PULSE_RATE_LIMIT_TOKEN;
    const result = await this.perToken.penalty(tokenLimitKey(principal.sub), points);
    if (result.consumedPoints - points >= limit)
      throw this.rateLimited(limit, `token ${principal.sub}`, Math.max(result.msBeforeNext, 1));
  }

  /** Forgets a closed connection's rate window. */
  forgetConnection(socketId: string): void {
    this.perConnection.forget(socketId);
  }

  private rateLimited(points: number, what: string, retryAfterMs: number): AccessDenied {
    const cost = `a resume or replay costs one more per ${this.config.PULSE_RATE_LIMIT_EVENTS_PER_POINT} events it reads (PULSE_RATE_LIMIT_EVENTS_PER_POINT)`;
    return new AccessDenied(
      429,
      refusal(
        'RATE_LIMITED',
        `more than ${points} requests per ${this.window} for ${what} (${cost}); slow down`,
        retryAfterMs,
      ),
    );
  }

  private async consume(limiter: RateLimiterRedis, key: string, what: string, points: number): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (result) {
      if (!(result instanceof RateLimiterRes)) throw result;
      throw this.rateLimited(points, what, Math.max(result.msBeforeNext, 1));
    }
  }

  /** Registers an opening socket of `principal`; throws AccessDenied (429) when the token has its maximum open. */
  async openConnection(principal: Principal, socketId: string): Promise<void> {
    const key = tokenConnectionsKey(principal.sub);
    const now = Date.now();
    const added = await this.redis.eval(
      ADD_CONNECTION,
      1,
      key,
      socketId,
      now,
      now - 3 * CONNECTION_REFRESH_MS,
      this.config.PULSE_MAX_CONNECTIONS_PER_TOKEN,
      Math.ceil((4 * CONNECTION_REFRESH_MS) / 1000),
    );
    if (Number(added) !== 1) {
      throw new AccessDenied(
        429,
        refusal(
          'TOO_MANY_CONNECTIONS',
          `token ${principal.sub} already has ${this.config.PULSE_MAX_CONNECTIONS_PER_TOKEN} open connections; close one first`,
          CONNECTION_REFRESH_MS,
        ),
      );
    }
    let set = this.sockets.get(key);
    if (!set) this.sockets.set(key, (set = new Set()));
    set.add(socketId);
  }

  /** A socket of `principal` closed. */
  async closeConnection(principal: Principal, socketId: string): Promise<void> {
    const key = tokenConnectionsKey(principal.sub);
    const set = this.sockets.get(key);
    set?.delete(socketId);
    if (set?.size === 0) this.sockets.delete(key);
    await this.redis.zrem(key, socketId);
  }

  /** Tells Redis this gateway's sockets are open: adds them back too if Redis lost them (a restart without persistence). */
  private async refreshConnections(): Promise<void> {
    if (this.sockets.size === 0) return;
    const now = Date.now();
    // Commands, not one pipeline: on a Redis Cluster the tokens' keys live in different slots.
    const ttl = Math.ceil((4 * CONNECTION_REFRESH_MS) / 1000);
    try {
      if (this.redis.status !== 'ready') throw new Error(`the connection is ${this.redis.status}`);
      await Promise.all(
        [...this.sockets].flatMap(([key, ids]) => [
          this.redis.zadd(key, ...[...ids].flatMap((id) => [now, id])),
          this.redis.expire(key, ttl),
        ]),
      );
      if (this.refreshFailing) this.logger.log('open connections are counted in Redis again');
      this.refreshFailing = false;
    } catch (error) {
      // Retried at the next period; entries live for three, so a short outage forgets nobody.
      if (!this.refreshFailing)
        this.logger.warn(
          `could not refresh the open connections in Redis (${(error as Error).message}); retrying every ${CONNECTION_REFRESH_MS / 1000} s`,
        );
      this.refreshFailing = true;
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.refresher);
    this.perConnection.close();
  }
}

// Liveness and readiness of a gateway process, through @nestjs/terminus.
import { Controller, Get, Inject, Logger, Res, ServiceUnavailableException } from '@nestjs/common';
import {
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import type { Response } from 'express';
import { REDIS, type RedisConnection } from '#pulse/event-store';
import { Access } from '../auth/access.decorator.js';
import { GatewayDrain } from '../live/gateway-drain.js';
import { LogTail } from '../live/log-tail.js';

/** Readiness: terminus's report, plus one line per part (`redis`, `tail`) that scripts and `pulse status` read. */
export type Readiness = HealthCheckResult & {
  ok: boolean;
  redis: string;
  tail: string;
  topics: number;
  draining: boolean;
};

@Controller()
@Access('public')
export class HealthController {
  private readonly logger = new Logger('Health');
  /** The last Redis error logged: a probe polled every few seconds logs each new one once. */
  private lastRedisError = '';

  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(REDIS) private readonly redis: RedisConnection,
    @Inject(LogTail) private readonly tail: LogTail,
    @Inject(GatewayDrain) private readonly drain: GatewayDrain,
  ) {}

  /** The process is alive (it answers). */
  @Get('healthz')
  async healthz(): Promise<HealthCheckResult & { ok: true }> {
    return { ...(await this.health.check([])), ok: true };
  }

  /**
   * Ready: Redis answers, the log tail reads and the process is not draining. 503 otherwise, with
   * which part is wrong; why (Redis's error text, which may name hosts and users) goes to the log only.
   */
  @Get('readyz')
  async readyz(@Res({ passthrough: true }) response: Response): Promise<Readiness> {
    let redis = 'ready';
    const result = await this.health
      .check([
        async (): Promise<HealthIndicatorResult> => {
          const check = this.indicators.check('redis');
          try {
            await this.redis.ping();
            this.lastRedisError = '';
            return check.up();
          } catch (error) {
            const message = (error as Error).message;
            if (message !== this.lastRedisError) this.logger.warn(`not ready: Redis does not answer: ${message}`);
            this.lastRedisError = message;
            redis = 'unreachable';
            return check.down({ message: 'Redis does not answer; the gateway log says why' });
          }
        },
        (): HealthIndicatorResult => {
          const check = this.indicators.check('tail');
          return this.tail.healthy
            ? check.up({ topics: this.tail.topics.length })
            : check.down({ failures: this.tail.failures });
        },
        (): HealthIndicatorResult => {
          // SIGTERM: a load balancer stops sending new clients here while the sockets move.
          const check = this.indicators.check('drain');
          return this.drain.draining ? check.down({ draining: true }) : check.up();
        },
      ])
      .catch((error: unknown) => {
        // Terminus throws a 503 carrying the same report when a check is down.
        if (error instanceof ServiceUnavailableException) return error.getResponse() as HealthCheckResult;
        throw error;
      });
    const tail = this.tail.healthy ? 'reading' : `failing (${this.tail.failures} errors)`;
    const ok = result.status === 'ok';
    response.status(ok ? 200 : 503);
    return { ...result, ok, redis, tail, topics: this.tail.topics.length, draining: this.drain.draining };
  }
}

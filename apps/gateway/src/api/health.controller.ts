// Liveness and readiness of a gateway process.
import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Redis } from 'ioredis';
import { REDIS } from '#pulse/event-store';
import { GatewayDrain } from '../live/gateway-drain.js';
import { LogTail } from '../live/log-tail.js';

@Controller()
export class HealthController {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LogTail) private readonly tail: LogTail,
    @Inject(GatewayDrain) private readonly drain: GatewayDrain,
  ) {}

  /** The process is alive (it answers). */
  @Get('healthz')
  @HttpCode(200)
  healthz(): { ok: true } {
    return { ok: true };
  }

  /** Ready: Redis answers, the log tail reads and the process is not draining. 503 otherwise, with what is wrong. */
  @Get('readyz')
  async readyz(@Res({ passthrough: true }) response: Response): Promise<{ ok: boolean; redis: string; tail: string; topics: number; draining: boolean }> {
    const redis = await this.redis.ping().then(
      () => 'ready',
      (error: Error) => `unreachable: ${error.message}`,
    );
    const tail = this.tail.healthy ? 'reading' : `failing (${this.tail.failures} errors)`;
    const ok = redis === 'ready' && this.tail.healthy && !this.drain.draining;
    response.status(ok ? 200 : 503);
    return { ok, redis, tail, topics: this.tail.topics.length, draining: this.drain.draining };
  }
}

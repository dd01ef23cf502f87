// GET /metrics: this gateway's Prometheus metrics (a metrics or admin token when auth is on: topic names are operational data).
import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Access } from '../auth/access.decorator.js';
import { MetricsService } from './metrics.service.js';

@Controller()
export class MetricsController {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}

  @Get('metrics')
  @Access('scrape')
  async metricsText(@Res() response: Response): Promise<void> {
    const { contentType, body } = await this.metrics.text();
    response.status(200).type(contentType).send(body);
  }
}

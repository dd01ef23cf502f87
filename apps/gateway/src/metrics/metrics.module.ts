// Metrics of a gateway (prom-client), injectable everywhere so that each edge can count what it does.
import { Global, Module } from '@nestjs/common';
import { AdminModule } from '../admin/admin.module.js';
import { LiveModule } from '../live/live.module.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsListener } from './metrics-listener.js';
import { MetricsService } from './metrics.service.js';

@Global()
@Module({
  imports: [LiveModule, AdminModule],
  controllers: [MetricsController],
  providers: [MetricsService, MetricsListener],
  exports: [MetricsService],
})
export class MetricsModule {}

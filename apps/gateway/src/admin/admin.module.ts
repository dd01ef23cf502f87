// Operator endpoints of a gateway: admin tokens only when auth is on (open to all when it is off, as the start warning says).
import { Module } from '@nestjs/common';
import { LiveModule } from '../live/live.module.js';
import { AdminController } from './admin.controller.js';
import { MonitorQueueService } from './monitor-queue.service.js';

@Module({
  imports: [LiveModule],
  controllers: [AdminController],
  providers: [MonitorQueueService],
  exports: [MonitorQueueService],
})
export class AdminModule {}

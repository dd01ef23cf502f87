// Operator endpoints of a gateway (auth comes with the security issue; until then keep gateways off public networks).
import { Module } from '@nestjs/common';
import { LiveModule } from '../live/live.module.js';
import { AdminController } from './admin.controller.js';
import { MonitorQueueService } from './monitor-queue.service.js';

@Module({
  imports: [LiveModule],
  controllers: [AdminController],
  providers: [MonitorQueueService],
})
export class AdminModule {}

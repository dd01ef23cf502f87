// Alerts on a gateway: rules, channels and silences over REST (evaluation and notifications run in the worker).
import { Module } from '@nestjs/common';
import { AdminModule } from '../admin/admin.module.js';
import { AlertsController } from './alerts.controller.js';

@Module({
  imports: [AdminModule],
  controllers: [AlertsController],
})
export class AlertsModule {}

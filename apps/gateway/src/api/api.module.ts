// REST API and health endpoints of a gateway.
import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { LiveModule } from '../live/live.module.js';
import { HealthController } from './health.controller.js';
import { HttpErrorFilter } from './http-error.js';
import { TopicsController } from './topics.controller.js';

@Module({
  imports: [LiveModule],
  controllers: [TopicsController, HealthController],
  providers: [{ provide: APP_FILTER, useClass: HttpErrorFilter }],
})
export class ApiModule {}

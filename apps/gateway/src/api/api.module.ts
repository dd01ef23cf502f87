// REST API and health endpoints of a gateway.
import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { HistoryController } from '../history/history.controller.js';
import { LiveModule } from '../live/live.module.js';
import { HealthController } from './health.controller.js';
import { HttpErrorFilter } from './http-error.js';
import { TopicsController } from './topics.controller.js';

@Module({
  // Terminus logs nothing itself: the Redis connections already say when Redis goes away.
  imports: [LiveModule, TerminusModule.forRoot({ logger: false })],
  controllers: [TopicsController, HistoryController, HealthController],
  providers: [{ provide: APP_FILTER, useClass: HttpErrorFilter }],
})
export class ApiModule {}

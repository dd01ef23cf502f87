// REST API and health endpoints of a gateway.
import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { HistoryController } from '../history/history.controller.js';
import { LiveModule } from '../live/live.module.js';
import { HealthController } from './health.controller.js';
import { HttpErrorFilter } from './http-error.js';
import { IngestRoute } from './ingest.route.js';
import { TopicsController } from './topics.controller.js';

@Module({
  // Terminus logs nothing itself: the Redis connections already say when Redis goes away.
  imports: [LiveModule, TerminusModule.forRoot({ logger: false })],
  controllers: [TopicsController, HistoryController, HealthController],
  // IngestRoute: main.ts puts it in front of Express, on the HTTP server.
  providers: [HttpErrorFilter, { provide: APP_FILTER, useExisting: HttpErrorFilter }, IngestRoute],
})
export class ApiModule {}

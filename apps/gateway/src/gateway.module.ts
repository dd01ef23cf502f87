// The gateway process: config, event store, access control, live feed, REST API, metrics and API documents.
import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, type PulseConfig } from '#pulse/config';
import { EventStoreModule } from '#pulse/event-store';
import { AdminModule } from './admin/admin.module.js';
import { AlertsModule } from './alerts/alerts.module.js';
import { ApiModule } from './api/api.module.js';
import { AuthModule } from './auth/auth.module.js';
import { DocsModule } from './docs/docs.module.js';
import { LiveModule } from './live/live.module.js';
import { MetricsModule } from './metrics/metrics.module.js';

@Module({})
export class GatewayModule {
  static forRoot(config: PulseConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        ConfigModule.forRoot(config),
        EventStoreModule.forRoot(),
        AuthModule,
        LiveModule,
        MetricsModule,
        ApiModule,
        AdminModule,
        AlertsModule,
        DocsModule,
      ],
    };
  }
}

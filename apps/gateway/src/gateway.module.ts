// The gateway process: config, event store, live feed, REST API.
import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, type PulseConfig } from '#pulse/config';
import { EventStoreModule } from '#pulse/event-store';
import { AdminModule } from './admin/admin.module.js';
import { ApiModule } from './api/api.module.js';
import { LiveModule } from './live/live.module.js';

@Module({})
export class GatewayModule {
  static forRoot(config: PulseConfig): DynamicModule {
    return { module: GatewayModule, imports: [ConfigModule.forRoot(config), EventStoreModule, LiveModule, ApiModule, AdminModule] };
  }
}

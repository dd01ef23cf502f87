// The worker process: config, event store, monitor tick, demo fleet.
import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, type PulseConfig } from '#pulse/config';
import { EventStoreModule } from '#pulse/event-store';
import { DemoModule } from './demo/demo.module.js';
import { MonitorModule, TICK_COMMANDS } from './monitor/monitor.module.js';

@Module({})
export class WorkerModule {
  static forRoot(config: PulseConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [ConfigModule.forRoot(config), EventStoreModule.forRoot(TICK_COMMANDS), MonitorModule, DemoModule],
    };
  }
}

// Runs the demo fleet inside the worker when PULSE_DEMO is on, posting to the configured gateways.
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { DemoFleet } from './demo-fleet.js';
import { createHttpPoster } from './http-ingest.js';

@Injectable()
export class DemoFleetService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('DemoFleet');
  private fleet: DemoFleet | undefined;

  constructor(@Inject(PULSE_CONFIG) private readonly config: PulseConfig) {}

  onApplicationBootstrap(): void {
    if (!this.config.PULSE_DEMO) return;
    const urls = this.config.PULSE_DEMO_URLS;
    this.fleet = new DemoFleet({
      post: createHttpPoster(urls, this.logger),
      instanceTtlMs: this.config.PULSE_INSTANCE_TTL_MS,
      log: this.logger,
    });
    this.fleet.start();
    this.logger.log(`demo fleet: ${this.fleet.size} instances posting to ${urls.join(', ')} on topic "${this.fleet.topic}"`);
  }

  async onApplicationShutdown(): Promise<void> {
    const fleet = this.fleet;
    this.fleet = undefined;
    await fleet?.stop();
  }
}

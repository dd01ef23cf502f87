// Runs the demo fleet inside the worker when PULSE_DEMO is on, posting to the configured gateways.
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { mintToken } from '#pulse/auth';
import { authEnabled, PULSE_CONFIG, type PulseConfig } from '#pulse/config';
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
    // With auth on, the fleet is a publisher like any other: a short-lived token, minted again before it expires.
    const secret = this.config.PULSE_AUTH_SECRET;
    if (!secret && authEnabled(this.config)) {
      // Gateways check tokens against PULSE_AUTH_PUBLIC_KEY; the worker holds no private key to sign one.
      this.logger.warn('demo fleet off: the gateways check tokens with PULSE_AUTH_PUBLIC_KEY and the worker cannot sign one; run the demo with PULSE_AUTH_SECRET, or unset PULSE_DEMO');
      return;
    }
    let cached: { token: string; renewAt: number } | null = null;
    const token = secret
      ? async () => {
          if (!cached || Date.now() >= cached.renewAt) cached = { token: await mintToken({ secret }, { sub: 'demo-fleet', role: 'publisher', topics: ['demo'], ttlSeconds: 7200 }), renewAt: Date.now() + 3_600_000 };
          return cached.token;
        }
      : undefined;
    this.fleet = new DemoFleet({
      post: createHttpPoster(urls, this.logger, token ? { token } : {}),
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

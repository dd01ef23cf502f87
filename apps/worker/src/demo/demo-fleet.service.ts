// Runs the demo fleet inside the worker when PULSE_DEMO is on, posting to the configured gateways, and sets up the demo topic's default alert rules.
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { mintToken, type Role } from '#pulse/auth';
import { authEnabled, PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { DemoFleet } from './demo-fleet.js';
import { setUpDemoRules, type DemoRulesOutcome } from './demo-rules.js';
import { createHttpPoster } from './http-ingest.js';

@Injectable()
export class DemoFleetService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('DemoFleet');
  private fleet: DemoFleet | undefined;
  private readonly stopping = new AbortController();
  /** The default rules' set-up, running in the background while gateways start. */
  rules: Promise<DemoRulesOutcome> | undefined;

  constructor(@Inject(PULSE_CONFIG) private readonly config: PulseConfig) {}

  onApplicationBootstrap(): void {
    if (!this.config.PULSE_DEMO) return;
    const urls = this.config.PULSE_DEMO_URLS;
    // With auth on, the fleet is a publisher like any other: a short-lived token, minted again before it expires.
    const secret = this.config.PULSE_AUTH_SECRET;
    if (!secret && authEnabled(this.config)) {
      // Gateways check tokens against PULSE_AUTH_PUBLIC_KEY; the worker holds no private key to sign one.
      this.logger.warn(
        'demo fleet off: the gateways check tokens with PULSE_AUTH_PUBLIC_KEY and the worker cannot sign one; run the demo with PULSE_AUTH_SECRET, or unset PULSE_DEMO',
      );
      return;
    }
    const token = secret ? tokenSource(secret, 'publisher') : undefined;
    this.fleet = new DemoFleet({
      post: createHttpPoster(urls, this.logger, token ? { token } : {}),
      instanceTtlMs: this.config.PULSE_INSTANCE_TTL_MS,
      log: this.logger,
    });
    this.fleet.start();
    this.logger.log(
      `demo fleet: ${this.fleet.size} instances posting to ${urls.join(', ')} on topic "${this.fleet.topic}"`,
    );
    // Setting rules is an admin's right: a token of its own, for the demo topic only.
    this.rules = setUpDemoRules({
      urls,
      topic: this.fleet.topic,
      log: this.logger,
      signal: this.stopping.signal,
      ...(secret ? { token: tokenSource(secret, 'admin') } : {}),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    const fleet = this.fleet;
    this.fleet = undefined;
    this.stopping.abort();
    await Promise.all([fleet?.stop(), this.rules]);
  }
}

/** A short-lived token of `role` for the demo topic, minted again before it expires. */
function tokenSource(secret: string, role: Role): () => Promise<string> {
  let cached: { token: string; renewAt: number } | null = null;
  return async () => {
    if (!cached || Date.now() >= cached.renewAt)
      cached = {
        token: await mintToken({ secret }, { sub: 'demo-fleet', role, topics: ['demo'], ttlSeconds: 7200 }),
        renewAt: Date.now() + 3_600_000,
      };
    return cached.token;
  };
}

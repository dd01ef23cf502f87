// PULSE_METRICS_PORT: GET /metrics on a port of its own, without a token, for Prometheus on a private network.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { MetricsService } from './metrics.service.js';

@Injectable()
export class MetricsListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server: Server | null = null;

  constructor(
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    @Inject(MetricsService) private readonly metrics: MetricsService,
  ) {}

  /** Listens on HOST:PULSE_METRICS_PORT when it is set: /metrics answers, everything else is 404. */
  async onApplicationBootstrap(): Promise<void> {
    const port = this.config.PULSE_METRICS_PORT;
    if (port === null) return;
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response
          .writeHead(404, { 'content-type': 'text/plain' })
          .end('this port serves GET /metrics only (PULSE_METRICS_PORT)\n');
        return;
      }
      this.metrics.text().then(
        ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
        (error: unknown) => {
          this.logger.warn(`metrics could not be collected: ${(error as Error)?.message ?? String(error)}`);
          response.writeHead(503, { 'content-type': 'text/plain' }).end('metrics cannot be collected now\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.config.HOST, () => resolve());
    });
    this.server = server;
    this.logger.log(
      `serving GET /metrics without a token on ${this.config.HOST}:${(server.address() as AddressInfo).port} (PULSE_METRICS_PORT)`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// A whole local Pulse: Redis (given or embedded), N gateways and M workers, started and stopped together.
import { join } from 'node:path';
import { inheritedEnv } from '#pulse/config';
import { freePort } from './free-port.js';
import { PROJECT_ROOT, PulseProcess } from './pulse-process.js';
import { RedisCluster } from './redis-cluster.js';
import { RedisServer } from './redis-server.js';

export interface PulseStackOptions {
  /** Use this Redis; otherwise an embedded redis-server is started. */
  redisUrl?: string;
  /** Data folder of the embedded Redis. @default <project>/.pulse/redis */
  redisDir?: string;
  /** Keep an AOF in the embedded Redis. @default true */
  redisAppendOnly?: boolean;
  /** Embed a Redis Cluster of this many masters (at least 3) instead of one redis-server. @default 0: a single server */
  redisCluster?: number;
  /** The embedded Redis in a process group of its own, out of a terminal's Ctrl-C: stop() stops it last. @default false */
  redisOwnProcessGroup?: boolean;
  /** @default 1 */
  gateways?: number;
  /** @default 1 */
  workers?: number;
  /** Port of the first gateway; the others take the next ones. 0 gives each a free port. @default 0 */
  basePort?: number;
  /** Environment for every Pulse process, on top of the inherited one. */
  env?: Record<string, string | undefined>;
  /** Environment for workers only (e.g. PULSE_DEMO for the first one). */
  workerEnv?: (index: number) => Record<string, string | undefined>;
  /** Each line a process prints, with its name. */
  onLine?: (name: string, line: string) => void;
}

export class PulseStack {
  private constructor(
    readonly redisUrl: string,
    readonly redis: RedisServer | null,
    /** The embedded Redis Cluster, when started with `redisCluster`. */
    readonly cluster: RedisCluster | null,
    readonly gateways: PulseProcess[],
    readonly workers: PulseProcess[],
    private readonly baseEnv: Record<string, string | undefined>,
    private readonly onLine?: (name: string, line: string) => void,
  ) {}

  /** Gateway base URLs, in order. */
  get urls(): string[] {
    return this.gateways.map((gateway) => gateway.url);
  }

  static async start(options: PulseStackOptions = {}): Promise<PulseStack> {
    const dir = options.redisDir ?? join(PROJECT_ROOT, '.pulse', 'redis');
    const embedded = !options.redisUrl;
    const cluster =
      embedded && options.redisCluster
        ? await RedisCluster.start({
            dir,
            masters: options.redisCluster,
            appendOnly: options.redisAppendOnly,
            ownProcessGroup: options.redisOwnProcessGroup,
          })
        : null;
    const redis =
      embedded && !cluster
        ? await RedisServer.start({
            dir,
            appendOnly: options.redisAppendOnly,
            ownProcessGroup: options.redisOwnProcessGroup,
          })
        : null;
    const redisUrl = options.redisUrl ?? (cluster ?? redis)!.url;
    const baseEnv = inheritedEnv({
      ...options.env,
      ...(cluster ? { REDIS_CLUSTER: '1' } : {}),
      REDIS_URL: redisUrl,
      HOST: options.env?.HOST ?? '127.0.0.1',
    });
    const stack = new PulseStack(redisUrl, redis, cluster, [], [], baseEnv, options.onLine);
    try {
      const basePort = options.basePort ?? 0;
      for (let i = 0; i < (options.gateways ?? 1); i++) await stack.addGateway(basePort === 0 ? 0 : basePort + i);
      for (let i = 0; i < (options.workers ?? 1); i++) await stack.addWorker(options.workerEnv?.(i));
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  /** Starts one more gateway (port 0: a free one). */
  async addGateway(port = 0, env: Record<string, string | undefined> = {}): Promise<PulseProcess> {
    const chosen = port === 0 ? await freePort() : port;
    const name = `gateway:${chosen}`;
    const gateway = await PulseProcess.start({
      role: 'gateway',
      name,
      env: { ...this.baseEnv, ...env, PORT: String(chosen) },
      onLine: (line) => this.onLine?.(name, line),
    });
    this.gateways.push(gateway);
    return gateway;
  }

  /** Starts one more worker. */
  async addWorker(env: Record<string, string | undefined> = {}): Promise<PulseProcess> {
    const name = `worker:${this.workers.length + 1}`;
    const worker = await PulseProcess.start({
      role: 'worker',
      name,
      env: { ...this.baseEnv, ...env },
      onLine: (line) => this.onLine?.(name, line),
    });
    this.workers.push(worker);
    return worker;
  }

  /** Stops workers, then gateways (SIGTERM, bounded), then the embedded Redis. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
    await Promise.all(this.gateways.map((gateway) => gateway.stop()));
    await this.redis?.stop();
    await this.cluster?.stop();
  }
}

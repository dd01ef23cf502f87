// A local Redis Cluster of N masters on loopback (redis-server --cluster-enabled + redis-cli --cluster create): for tests and `npm start -- --redis-cluster N`.
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort, portFree } from './free-port.js';
import { findRedisServer, RedisServer } from './redis-server.js';

export interface RedisClusterOptions {
  /** Data directory; each node gets a folder in it. */
  dir: string;
  /** Master nodes (no replicas). @default 3 */
  masters?: number;
  /** Keep an append-only file on each node. @default false */
  appendOnly?: boolean;
  /** Each node in a process group of its own (RedisServerOptions.ownProcessGroup). @default false */
  ownProcessGroup?: boolean;
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function clusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (port + 10_000 <= 65_535 && (await portFree(port + 10_000))) return port;
  }
  throw new Error('found no free loopback port pair (port, port + 10000) for a cluster node');
}

/** Runs redis-cli (next to redis-server) and resolves with its output; rejects with it on failure. */
function redisCli(args: string[]): Promise<string> {
  const server = findRedisServer();
  const binary = server ? join(server, '..', 'redis-cli') : 'redis-cli';
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) =>
      reject(
        new Error(
          `could not run ${binary}: ${error.message} (it comes with redis-server: apt-get install -y redis-server)`,
        ),
      ),
    );
    child.once('exit', (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`redis-cli ${args.join(' ')} exited with ${code}:\n${output.slice(-2000)}`)),
    );
  });
}

/** A running Redis Cluster; `stop()` stops every node. */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  /** Seed node URLs, comma-separated: the REDIS_URL of a Pulse process (with REDIS_CLUSTER=1). */
  get url(): string {
    return this.nodes.map((node) => node.url).join(',');
  }

  /**
   * Starts the nodes on free ports, creates the cluster (slots spread evenly) and resolves once
   * every node reports it ok. Always a new cluster: node folders left in `dir` are removed first.
   */
  static async start(options: RedisClusterOptions): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    if (masters < 3) throw new Error(`a Redis Cluster needs at least 3 masters, got ${masters}`);
    const nodes: RedisServer[] = [];
    const cluster = new RedisCluster(nodes);
    for (let i = 0; i < masters; i++) await rm(join(options.dir, `node-${i + 1}`), { recursive: true, force: true });
    try {
      for (let i = 0; i < masters; i++) {
        const dir = join(options.dir, `node-${i + 1}`);
        nodes.push(
          await RedisServer.start({
            dir,
            port: await clusterPort(),
            appendOnly: options.appendOnly ?? false,
            ownProcessGroup: options.ownProcessGroup,
            args: [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              join(dir, 'nodes.conf'),
              '--cluster-node-timeout',
              '5000',
            ],
          }),
        );
      }
      await redisCli([
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      await cluster.waitUntilOk();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  private async waitUntilOk(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of this.nodes) {
      const redis = new Redis(node.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        for (;;) {
          const info = await redis.cluster('INFO').catch(() => '');
          if (/cluster_state:ok/.test(String(info))) break;
          if (Date.now() > deadline)
            throw new Error(`Redis Cluster node ${node.url} is not ok after ${timeoutMs} ms:\n${String(info)}`);
          await sleep(100);
        }
      } finally {
        redis.disconnect();
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}

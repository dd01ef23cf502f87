// Ceiling C for Redis itself: redis-benchmark's PUBLISH and XADD of the bench payload against the bench's redis-server.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RedisBenchmarkRow {
  command: 'PUBLISH' | 'XADD';
  /** Requests in flight per connection (-P). */
  pipeline: number;
  clients: number;
  requests: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** The last CSV line's numbers: rps, avg, min, p50, p95, p99, max. */
const ROW = /"([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)"\s*$/;

export async function redisBenchmark(
  port: number,
  command: RedisBenchmarkRow['command'],
  payload: string,
  requests: number,
  pipeline: number,
  clients = 50,
): Promise<RedisBenchmarkRow> {
  const args =
    command === 'PUBLISH'
      ? ['PUBLISH', 'bench:redis-benchmark', payload]
      : ['XADD', 'bench:redis-benchmark', 'MAXLEN', '~', '100000', '*', 'd', payload];
  const { stdout } = await run(
    'redis-benchmark',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-n',
      String(requests),
      '-c',
      String(clients),
      '-P',
      String(pipeline),
      '--csv',
      ...args,
    ],
    { timeout: 60_000 },
  );
  const match = ROW.exec(stdout.trim());
  if (!match) throw new Error(`redis-benchmark printed nothing to read: ${stdout.slice(0, 300)}`);
  return {
    command,
    pipeline,
    clients,
    requests,
    perSec: Number(match[1]),
    p50Ms: Number(match[4]),
    p99Ms: Number(match[6]),
  };
}

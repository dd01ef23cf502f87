// Starts one real redis-server for the specs (e2e suites start their own), from the built libs/stack.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default async function globalSetup() {
  process.env.TZ = 'UTC';
  const { RedisServer } = await import('../dist/libs/stack/src/redis-server.js').catch((error) => {
    throw new Error(
      `libs/stack is not built (${error.message}): run \`npm run build\` first, or run the whole suite with \`npm test\``,
    );
  });
  const dir = mkdtempSync(join(tmpdir(), 'pulse-test-redis-'));
  const redis = await RedisServer.start({ dir, appendOnly: false });
  process.env.PULSE_TEST_REDIS_URL = redis.url;
  globalThis.__pulseRedis = { redis, dir };
}

// Stops the redis-server of global-setup and removes its folder.
import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const { redis, dir } = globalThis.__pulseRedis ?? {};
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}

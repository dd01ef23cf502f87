// The event-store module booted as processes boot it: it warns when Redis may evict keys, and closes its connections.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Module, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { ConfigModule, parseConfig } from '#pulse/config';
import { EventStoreModule, REDIS } from './event-store.module.js';
import { waitForReady } from './redis.js';

const url = process.env.PULSE_TEST_REDIS_URL!;
const admin = new Redis(url, { maxRetriesPerRequest: 1 });

afterEach(async () => {
  await admin.config('SET', 'maxmemory-policy', 'noeviction');
});

/** Boots the module and resolves with what it warned once the policy check has answered. */
async function warningsAtBoot(): Promise<string[]> {
  const warnings: string[] = [];
  const logger: LoggerService = {
    log: () => undefined,
    error: () => undefined,
    warn: (message: unknown) => void warnings.push(String(message)),
  };
  @Module({ imports: [ConfigModule.forRoot(parseConfig({ REDIS_URL: url })), EventStoreModule.forRoot()] })
  class RootModule {}
  const app = await NestFactory.createApplicationContext(RootModule, { logger });
  await app.init();
  const redis = app.get<Redis>(REDIS);
  // The check runs in the background once the connection is ready: a round trip sent after it comes back after it.
  await waitForReady(redis, url);
  await redis.ping();
  await app.close();
  // Closing the app closes the connection (the test times out if it never ends).
  if (redis.status !== 'end') await new Promise((resolve) => redis.once('end', resolve));
  return warnings;
}

describe('EventStoreModule', () => {
  it('warns at boot when Redis may evict keys', async () => {
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    expect((await warningsAtBoot()).filter((w) => w.includes('maxmemory-policy'))).toEqual([
      "Redis maxmemory-policy is allkeys-lru: Pulse needs noeviction (an evicted key breaks a topic's log). Set maxmemory-policy noeviction.",
    ]);
  });

  it('says nothing with noeviction', async () => {
    expect((await warningsAtBoot()).filter((w) => w.includes('maxmemory-policy'))).toEqual([]);
  });
});

afterAll(async () => {
  await admin.quit();
});

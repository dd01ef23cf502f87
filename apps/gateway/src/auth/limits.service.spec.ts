// Connection counts per token against a real Redis: a refresh puts this gateway's sockets back when Redis lost them.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Principal } from '#pulse/auth';
import { parseConfig } from '#pulse/config';
import { RedisConnections, tokenConnectionsKey, waitForReady } from '#pulse/event-store';
import { LimitsService } from './limits.service.js';

const url = process.env.PULSE_TEST_REDIS_URL!;
const sub = `limits-spec-${process.pid}-${Date.now()}`;
const key = tokenConnectionsKey(sub);
const principal: Principal = { sub, role: 'viewer', topics: ['*'], expiresAt: null };

let redis: Redis;
let connections: RedisConnections;
let limits: LimitsService;

beforeAll(async () => {
  const config = parseConfig({
    REDIS_URL: url,
    PULSE_AUTH_SECRET: 's'.repeat(32),
    PULSE_MAX_CONNECTIONS_PER_TOKEN: '2',
  });
  redis = new Redis(url);
  connections = new RedisConnections(config);
  // The gateway's command connection fails fast while not ready (no offline queue): wait for it, as a gateway's first request does.
  const commands = connections.connect({ name: 'pulse:commands' });
  await waitForReady(commands, url);
  limits = new LimitsService(config, commands);
});

afterAll(async () => {
  limits.onApplicationShutdown();
  await connections.onApplicationShutdown();
  await redis.del(key);
  redis.disconnect();
});

it('adds its open sockets back at the refresh when Redis lost the key', async () => {
  await limits.openConnection(principal, 'socket-1');
  expect(await redis.zscore(key, 'socket-1')).not.toBeNull();
  await redis.del(key);
  await (limits as unknown as { refreshConnections(): Promise<void> }).refreshConnections();
  expect(await redis.zscore(key, 'socket-1')).not.toBeNull();
  expect(await redis.ttl(key)).toBeGreaterThan(0);
  await limits.closeConnection(principal, 'socket-1');
  expect(await redis.zcard(key)).toBe(0);
});

// Redis traffic per presence join: two gateways (auth on), N sockets join one topic one after another; Redis's INFO byte counters around each join, until its announcement reaches the joiner.
import { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { startPulse } from '#pulse/testing';

const JOINS = Number(process.argv[2] ?? 40);
const TOPIC = 'presence-traffic';

/** Redis's bytes in and out since it started. */
async function bytes(redis: Redis): Promise<number> {
  const info = await redis.info('stats');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return field('total_net_input_bytes') + field('total_net_output_bytes');
}

const pulse = await startPulse({ gateways: 2, workers: 0, auth: true });
const redis = new Redis(pulse.redisUrl);
const sockets: Socket[] = [];
try {
  // What reading the counters itself costs (an INFO reply), taken off every join's figure.
  const overhead = -(await bytes(redis)) + (await bytes(redis));
  const perJoin: number[] = [];
  for (let i = 1; i <= JOINS; i++) {
    // A token per viewer: one token may hold only PULSE_MAX_CONNECTIONS_PER_TOKEN sockets.
    const token = await pulse.token({ sub: `viewer-${i}`, role: 'viewer', topics: ['*'] });
    const socket = io(pulse.urls[i % 2], { auth: { token }, transports: ['websocket'] });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const before = await bytes(redis);
    const announced = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`join ${i}: no presence announcement of ${i} viewers within 10 s`)),
        10_000,
      );
      socket.on('presence', ({ viewers }: { viewers: number }) => {
        if (viewers !== i) return;
        clearTimeout(timer);
        resolve();
      });
    });
    await new Promise((resolve) => socket.emit('subscribe', { topic: TOPIC, presence: true }, resolve));
    await announced;
    perJoin.push((await bytes(redis)) - before - overhead);
  }
  const total = perJoin.reduce((sum, n) => sum + n, 0);
  process.stdout.write(
    `${JOINS} joins over 2 gateways: ${total} bytes through Redis (in + out), ${Math.round(total / JOINS)} per join on average; join 1: ${perJoin[0]}, join ${JOINS}: ${perJoin.at(-1)}\n`,
  );
} finally {
  for (const socket of sockets) socket.close();
  redis.disconnect();
  await pulse.stop();
}

// Presence across gateways: viewer counts exchanged as numbers (no socket handshake, no token through Redis), right on every gateway, and right again after a gateway is killed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { poll } from './support/wait.js';

let pulse: PulseTestStack;
let listener: Redis;
/** Every message the gateways exchanged through Redis pub/sub while the test ran. */
const exchanged: Buffer[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  pulse = await startPulse({ gateways: 2, workers: 0, auth: true });
  listener = new Redis(pulse.redisUrl);
  listener.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => exchanged.push(message));
  await listener.psubscribe('*');
}, 90_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  listener?.disconnect();
  await pulse?.stop();
}, 60_000);

/** A viewer on `url`, live on `topic`, that remembers the last viewer count it was told. */
async function viewer(
  url: string,
  token: string,
  topic: string,
): Promise<{ socket: Socket; told: () => number | undefined }> {
  const socket = io(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  let told: number | undefined;
  socket.on('presence', ({ viewers }: { viewers: number }) => (told = viewers));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const ack = (await socket.timeout(10_000).emitWithAck('subscribe', { topic })) as { ok: boolean };
  expect(ack.ok).toBe(true);
  return { socket, told: () => told };
}

describe('presence', () => {
  it("counts viewers on every gateway without shipping handshakes or tokens through Redis, and forgets a killed gateway's", async () => {
    const topic = 'presence-e2e';
    const [a, b] = pulse.urls as [string, string];
    const admin = await pulse.token({ sub: 'ops', role: 'admin' });
    const counted = async (url: string) =>
      (
        (await (
          await fetch(`${url}/api/v1/admin/presence`, { headers: { authorization: `Bearer ${admin}` } })
        ).json()) as { topics: Record<string, number> }
      ).topics[topic];
    const tokens = await Promise.all(
      [1, 2, 3].map((i) => pulse.token({ sub: `viewer-${i}`, role: 'viewer', topics: ['presence-*'] })),
    );

    const one = await viewer(a, tokens[0]!, topic);
    const two = await viewer(b, tokens[1]!, topic);
    await poll('both viewers told of 2 viewers', () => one.told() === 2 && two.told() === 2, { timeoutMs: 10_000 });
    await poll('both gateways count 2 viewers', async () => (await counted(a)) === 2 && (await counted(b)) === 2, {
      timeoutMs: 10_000,
    });
    // The counts went between the gateways; the viewers' tokens (and the admin's) never did.
    expect(exchanged.length).toBeGreaterThan(0);
    for (const token of [...tokens, admin]) expect(exchanged.filter((message) => message.includes(token))).toEqual([]);

    // Gateway B dies without a word: its viewer is no longer counted anywhere.
    pulse.processes.gateways[1]!.kill('SIGKILL');
    const three = await viewer(a, tokens[2]!, topic);
    await poll(
      'gateway A to count 2 viewers (one of its own before, the new one) after B died',
      async () => (await counted(a)) === 2,
      { timeoutMs: 15_000 },
    );
    await poll('the viewers on A told of 2 viewers', () => one.told() === 2 && three.told() === 2, {
      timeoutMs: 15_000,
    });
  }, 60_000);
});

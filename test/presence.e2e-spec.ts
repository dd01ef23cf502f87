// Presence across gateways: viewer counts exchanged as numbers (no socket handshake, no token through Redis), right on every gateway, and right again after a gateway is killed; sent only to the sockets that asked for them.
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

/** A viewer on `url`, live on `topic` (asking for presence unless `request` says otherwise), that remembers every viewer count it was told. */
async function viewer(
  url: string,
  token: string,
  topic: string,
  request: { presence?: unknown; batch?: boolean } = { presence: true },
): Promise<{ socket: Socket; told: () => number | undefined; counts: number[] }> {
  const socket = io(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  const counts: number[] = [];
  socket.on('presence', ({ viewers }: { viewers: number }) => counts.push(viewers));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const ack = (await socket.timeout(10_000).emitWithAck('subscribe', { topic, ...request })) as { ok: boolean };
  expect(ack.ok).toBe(true);
  return { socket, told: () => counts.at(-1), counts };
}

describe('presence', () => {
  it('sends presence only to sockets that subscribed with presence: true, and counts every viewer', async () => {
    const topic = 'presence-asked';
    const [a, b] = pulse.urls as [string, string];
    const token = await pulse.token({ sub: 'asker', role: 'viewer', topics: ['presence-*'] });
    // On gateway A, one socket that asks; on gateway B, one that asks and two that do not (one in each delivery mode).
    const asker = await viewer(a, token, topic);
    const plain = await viewer(b, token, topic, {});
    const unasked = await viewer(b, token, topic, { presence: false, batch: true });
    const neighbour = await viewer(b, token, topic);
    const told = (count: number) => asker.told() === count && neighbour.told() === count;
    /** One ack from each socket that did not ask: every frame B sent it before has arrived (B sends a presence frame to its sockets in one pass). */
    const roundTrip = async (...quiet: Awaited<ReturnType<typeof viewer>>[]) => {
      for (const { socket } of quiet)
        expect(await socket.timeout(10_000).emitWithAck('unsubscribe', { topic: 'presence-other' })).toEqual({
          ok: true,
          topic: 'presence-other',
        });
    };
    await poll(
      () => `the askers on A and B told of 4 viewers (told ${asker.told()}, ${neighbour.told()})`,
      () => told(4),
      {
        timeoutMs: 15_000,
      },
    );
    await roundTrip(plain, unasked);
    expect(plain.counts).toEqual([]);
    expect(unasked.counts).toEqual([]);

    // A viewer that did not ask leaving is a change the askers are told of, and still nothing for the other.
    plain.socket.close();
    await poll(
      () => `the askers told of 3 viewers (told ${asker.told()}, ${neighbour.told()})`,
      () => told(3),
      {
        timeoutMs: 15_000,
      },
    );
    await roundTrip(unasked);
    expect(unasked.counts).toEqual([]);
    for (const { socket } of [asker, unasked, neighbour]) socket.close();
  }, 60_000);

  it("counts topics named as an object's own properties (constructor, valueof) across gateways as any other", async () => {
    const [a, b] = pulse.urls as [string, string];
    const admin = await pulse.token({ sub: 'ops', role: 'admin' });
    const token = await pulse.token({ sub: 'viewer-props', role: 'viewer', topics: ['constructor', 'valueof'] });
    await viewer(b, token, 'constructor');
    await viewer(b, token, 'valueof');
    const topics = async (url: string) =>
      (
        (await (
          await fetch(`${url}/api/v1/admin/presence`, { headers: { authorization: `Bearer ${admin}` } })
        ).json()) as { topics: Record<string, unknown> }
      ).topics;
    // Gateway A has none of them: it adds B's counts to its own, which must start from nothing.
    await poll(
      'gateway A to count one viewer on each of constructor and valueof',
      async () => {
        const counted = new Map(Object.entries(await topics(a)));
        return counted.get('constructor') === 1 && counted.get('valueof') === 1;
      },
      { timeoutMs: 10_000 },
    );
  });

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

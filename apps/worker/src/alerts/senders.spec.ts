// Senders against receivers that never answer: every channel type fails its try within the delivery timeout.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { SMTPServer } from 'smtp-server';
import type { NotificationPayload } from '#pulse/contracts';
import { DeliveryFailed, Senders } from './senders.js';

const payload: NotificationPayload = {
  topic: 'web',
  seq: 1,
  epoch: 'e',
  kind: 'firing',
  alerts: [{ alertId: 'down', ruleId: 'down', severity: 'warning', value: 1, summary: 'down', activeSince: 0 }],
};
/** The bound the spec gives the senders, and how long it waits for them to give up (generous: a busy machine). */
const TIMEOUT_MS = 300;
const GIVE_UP_WITHIN_MS = 8000;

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** Resolves with how the send ended and after how long; fails the test if it is still pending after GIVE_UP_WITHIN_MS. */
async function outcome(send: Promise<void>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const error = await Promise.race([
    send.then(
      () => new Error('sent, although the receiver never answered'),
      (failure: unknown) => failure,
    ),
    new Promise<Error>((resolve) => {
      timer = setTimeout(() => resolve(new Error(`still pending after ${GIVE_UP_WITHIN_MS} ms`)), GIVE_UP_WITHIN_MS);
    }),
  ]);
  clearTimeout(timer);
  return { error, ms: Date.now() - started };
}

describe('Senders, when the receiver never answers', () => {
  it('fails an email try once the SMTP server is silent for the timeout (nodemailer would wait 10 min)', async () => {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      // Takes the message, never answers its end.
      onData: (stream) => stream.resume(),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.server.address() as AddressInfo;
    const senders = new Senders({ url: `smtp://127.0.0.1:${port}`, from: 'pulse@localhost' }, TIMEOUT_MS);
    stops.push(() => Promise.resolve(senders.close()));
    const { error } = await outcome(
      senders.send({ channelId: 'mail', type: 'email', to: ['ops@example.com'] }, payload, 'delivery-1'),
    );
    expect(error).toBeInstanceOf(DeliveryFailed);
    expect((error as Error).message).toMatch(/^SMTP: .*timeout/i);
  });

  it('fails a webhook try after the timeout', async () => {
    const held: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', () => resolve()));
    stops.push(async () => {
      held.closeAllConnections();
      await new Promise<void>((resolve) => held.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(held.address() as AddressInfo).port}/hook`;
    const senders = new Senders({ url: null, from: 'pulse@localhost' }, TIMEOUT_MS);
    const { error } = await outcome(
      senders.send({ channelId: 'hook', type: 'webhook', url, secret: 's'.repeat(32) }, payload, 'delivery-2'),
    );
    expect(error).toBeInstanceOf(DeliveryFailed);
    expect((error as Error).message).toContain('failed');
  });
});

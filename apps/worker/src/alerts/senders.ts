// How a notification leaves Pulse, per channel type: a signed webhook, a Slack incoming webhook, an email over SMTP.
import { createHmac } from 'node:crypto';
import { createTransport, type Transporter } from 'nodemailer';
import type { Channel, NotificationPayload } from '#pulse/contracts';

/** A receiver that does not answer within this is retried. */
export const DELIVERY_TIMEOUT_MS = 10_000;

/**
 * A delivery that did not succeed; the message (status code or error) is what Bull Board shows as
 * the job's failure. `permanent`: the receiver refused this very request (a 4xx other than 408 and
 * 429, an SMTP 5xx): every retry would be refused alike, so there is none.
 */
export class DeliveryFailed extends Error {
  constructor(
    message: string,
    readonly permanent = false,
  ) {
    super(message);
    this.name = 'DeliveryFailed';
  }
}

/** What a permanent failure adds to its reason. */
const NOT_RETRIED = 'not retried: fix the channel or the receiver, then retry the job in Bull Board';

/** `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`: the Pulse-Signature of a webhook body sent at `timestamp` (seconds). */
export function signature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Most alerts a Slack message or an email lists one per line; the rest are counted (a webhook gets them all). */
export const MAX_LISTED_ALERTS = 100;

/** One line per alert (at most MAX_LISTED_ALERTS), as Slack and email show them. */
export function renderText(payload: NotificationPayload): { subject: string; lines: string[] } {
  const word = { firing: 'FIRING', resolved: 'RESOLVED', reminder: 'STILL FIRING', test: 'TEST' }[payload.kind];
  const count = payload.alerts.length;
  const rule = payload.alerts[0]?.ruleId;
  const subject =
    payload.kind === 'test'
      ? 'Pulse test notification'
      : `[${word}] ${payload.topic}: ${rule}${count > 1 ? ` (${count} alerts)` : ''}`;
  const lines =
    payload.kind === 'test'
      ? ['This is a test message from Pulse: the channel works.']
      : payload.alerts.slice(0, MAX_LISTED_ALERTS).map((alert) => `• [${alert.severity}] ${alert.summary}`);
  if (count > MAX_LISTED_ALERTS) lines.push(`… and ${count - MAX_LISTED_ALERTS} more`);
  if (payload.dashboardUrl) lines.push(payload.dashboardUrl);
  return { subject, lines };
}

async function post(url: string, body: string, timeoutMs: number, headers: Record<string, string>): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'pulse-alerts', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    throw new DeliveryFailed(`POST ${new URL(url).host} failed: ${cause?.message ?? (error as Error).message}`);
  }
  await response.body?.cancel();
  if (response.status >= 200 && response.status < 300) return;
  const refused = response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429;
  throw new DeliveryFailed(
    `POST ${new URL(url).host} answered ${response.status}${refused ? ` (${NOT_RETRIED})` : ''}`,
    refused,
  );
}

/** Sends notifications; one SMTP transport for the process. */
export class Senders {
  private transport: Transporter | null = null;

  /** `timeoutMs`: how long a receiver or SMTP server may stay silent before the try fails. */
  constructor(
    private readonly smtp: { url: string | null; from: string },
    private readonly timeoutMs = DELIVERY_TIMEOUT_MS,
  ) {}

  /** Sends `payload` to `channel`; `deliveryId` is the same on every retry. Throws DeliveryFailed, naming the reason, otherwise. */
  async send(channel: Channel, payload: NotificationPayload, deliveryId: string, now = Date.now()): Promise<void> {
    switch (channel.type) {
      case 'webhook': {
        const body = JSON.stringify(payload);
        const timestamp = Math.floor(now / 1000);
        return post(channel.url, body, this.timeoutMs, {
          'pulse-delivery-id': deliveryId,
          'pulse-timestamp': String(timestamp),
          'pulse-signature': signature(channel.secret, timestamp, body),
        });
      }
      case 'slack': {
        const { subject, lines } = renderText(payload);
        const text = `${subject}\n${lines.join('\n')}`;
        const blocks = [
          { type: 'header', text: { type: 'plain_text', text: subject.slice(0, 150) } },
          { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n').slice(0, 3000) } },
        ];
        return post(channel.url, JSON.stringify({ text, blocks }), this.timeoutMs, {});
      }
      case 'email': {
        if (!this.smtp.url) throw new DeliveryFailed('email channel, but PULSE_SMTP_URL is not set on the worker');
        // nodemailer waits 2 min for a connection and 10 min for a silent server by default: a
        // stalled server would hold a notify slot that long per try.
        this.transport ??= createTransport({
          url: this.smtp.url,
          connectionTimeout: this.timeoutMs,
          greetingTimeout: this.timeoutMs,
          socketTimeout: this.timeoutMs,
        });
        const { subject, lines } = renderText(payload);
        try {
          await this.transport.sendMail({
            from: this.smtp.from,
            to: channel.to,
            subject,
            text: lines.join('\n'),
            headers: { 'Pulse-Delivery-Id': deliveryId },
          });
        } catch (error) {
          // SMTP's 5xx replies are permanent (a refused sender or recipient), 4xx ones transient.
          const code = (error as { responseCode?: unknown }).responseCode;
          const refused = typeof code === 'number' && code >= 500 && code < 600;
          throw new DeliveryFailed(`SMTP: ${(error as Error).message}${refused ? ` (${NOT_RETRIED})` : ''}`, refused);
        }
        return;
      }
    }
  }

  close(): void {
    this.transport?.close();
  }
}

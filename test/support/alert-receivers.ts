// Real receivers of alert notifications for tests: an HTTP server that checks webhook signatures from the documented formula, and an SMTP sink.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { Changes } from './wait.js';

/** One request the receiver got. */
export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  json: { kind?: string; topic?: string; alerts?: { alertId: string; summary: string }[]; text?: string };
  /** Whether Pulse-Signature equals v1=hex(HMAC-SHA256(secret, Pulse-Timestamp + "." + raw body)), computed here. */
  signatureValid: boolean;
  /** What it answered. */
  status: number;
}

/**
 * An HTTP receiver on 127.0.0.1, port 0. `answers[path]` is a list of statuses answered in turn
 * (the last one repeats; 200 when none). Each request is recorded, then `changes` told.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  readonly changes = new Changes();
  readonly answers = new Map<string, number[]>();
  private server: Server | null = null;

  constructor(private readonly secret: string) {}

  /** Listens on `port` (0: a free one; a receiver that was stopped listens again on its old port). */
  async start(port = 0): Promise<string> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = Object.fromEntries(
          Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
        );
        const path = request.url ?? '/';
        const queue = this.answers.get(path) ?? [];
        const status = queue.length > 1 ? queue.shift()! : (queue[0] ?? 200);
        let json: Received['json'] = {};
        try {
          json = JSON.parse(body) as Received['json'];
        } catch {
          // recorded as is
        }
        this.received.push({ path, headers, body, json, signatureValid: this.verify(headers, body), status });
        response.writeHead(status).end();
        this.changes.changed();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The signature check a receiver writes from the documentation alone. */
  private verify(headers: Record<string, string>, body: string): boolean {
    const timestamp = headers['pulse-timestamp'];
    const given = headers['pulse-signature'] ?? '';
    if (!timestamp || !given.startsWith('v1=')) return false;
    const expected = createHmac('sha256', this.secret).update(`${timestamp}.${body}`).digest();
    const actual = Buffer.from(given.slice(3), 'hex');
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  /** Requests to `path` answered 2xx (deliveries), optionally of one kind. */
  delivered(path: string, kind?: string): Received[] {
    return this.received.filter(
      (entry) => entry.path === path && entry.status < 300 && (kind === undefined || entry.json.kind === kind),
    );
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** An SMTP sink on 127.0.0.1, port 0, without TLS or auth: every message is recorded raw. */
export class SmtpSink {
  readonly messages: { to: string[]; raw: string }[] = [];
  readonly changes = new Changes();
  private readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        this.messages.push({
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        this.changes.changed();
        callback();
      });
    },
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    return `smtp://127.0.0.1:${(this.server.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// The notification retry schedule and the webhook signature, without Redis or BullMQ.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { attemptsFor, backoffDelay } from './notification.service.js';
import { renderText, signature } from './senders.js';

describe('notification retries', () => {
  it('doubles from the base delay up to an hour', () => {
    expect([1, 2, 3, 12, 13, 40].map((made) => backoffDelay(made, 1000))).toEqual([
      1000, 2000, 4000, 2_048_000, 3_600_000, 3_600_000,
    ]);
  });

  it('retries for at least 24 h by default, and not much longer', () => {
    const attempts = attemptsFor(86_400_000, 1000);
    let waited = 0;
    for (let made = 1; made < attempts; made++) waited += backoffDelay(made, 1000);
    expect(waited).toBeGreaterThanOrEqual(86_400_000);
    expect(waited - backoffDelay(attempts - 1, 1000)).toBeLessThan(86_400_000);
  });
});

describe('webhook signature', () => {
  it('is v1= and the hex HMAC-SHA256 of timestamp "." body', () => {
    const body = '{"kind":"test"}';
    expect(signature('s3cret', 1_700_000_000, body)).toBe(
      `v1=${createHmac('sha256', 's3cret').update(`1700000000.${body}`).digest('hex')}`,
    );
  });

  it('renders a grouped message with one line per alert', () => {
    const alert = { ruleId: 'down', severity: 'critical' as const, value: 1, activeSince: 0 };
    const text = renderText({
      topic: 'web',
      seq: 3,
      epoch: 'e',
      kind: 'firing',
      alerts: [
        { ...alert, alertId: 'down:a', summary: 'instance a offline' },
        { ...alert, alertId: 'down:b', summary: 'instance b offline' },
      ],
    });
    expect(text).toEqual({
      subject: '[FIRING] web: down (2 alerts)',
      lines: ['• [critical] instance a offline', '• [critical] instance b offline'],
    });
  });

  it('lists at most 100 alerts in a message, and counts the rest', () => {
    const alerts = Array.from({ length: 10_000 }, (_, i) => ({
      alertId: `down:h${i}`,
      ruleId: 'down',
      severity: 'warning' as const,
      value: 1,
      activeSince: 0,
      summary: `instance h${i} offline`,
    }));
    const { subject, lines } = renderText({ topic: 'web', seq: 3, epoch: 'e', kind: 'firing', alerts });
    expect(subject).toBe('[FIRING] web: down (10000 alerts)');
    expect(lines).toHaveLength(101);
    expect(lines.at(99)).toBe('• [warning] instance h99 offline');
    expect(lines.at(-1)).toBe('… and 9900 more');
  });
});

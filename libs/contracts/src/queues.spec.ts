// notifyJobId: one notification, one id; two notifications, two ids, whatever their alert and channel ids hold.
import { describe, expect, it } from '@jest/globals';
import { notifyJobId } from './queues.js';

const reminder = (alertId: string, channelId: string) =>
  notifyJobId({ kind: 'reminder', channelId, topic: 't', epoch: 'e-1', seq: 7, ruleId: 'r', alertId, tickAt: 1000 });

/** Every string of `alphabet` from 1 to `max` characters that starts with a letter. */
function strings(alphabet: string, max: number): string[] {
  let level = [...alphabet].filter((c) => /[a-z]/.test(c));
  const all = [...level];
  for (let length = 2; length <= max; length++) {
    level = level.flatMap((s) => [...alphabet].map((c) => s + c));
    all.push(...level);
  }
  return all;
}

describe('notifyJobId', () => {
  it("gives two reminders of one tick two ids when their alert and channel ids hold '.' (down:api on eu.pager, down:api.eu on pager)", () => {
    expect(reminder('down:api', 'eu.pager')).not.toBe(reminder('down:api.eu', 'pager'));
    expect(reminder('down:api', 'eu.pager')).not.toContain(':');
  });

  it("is one-to-one over every reminder's alert and channel ids of a small alphabet (instance ids may hold ':' and '.')", () => {
    const alerts = ['a', 'a.b'].flatMap((rule) => strings('ab.:', 4).map((instance) => `${rule}:${instance}`));
    const channels = strings('ab.', 4);
    const ids = new Set(alerts.flatMap((alert) => channels.map((channel) => reminder(alert, channel))));
    expect(ids.size).toBe(alerts.length * channels.length);
  });
});

// Stream entries as events: the one decoder of what the append script writes.
import type { PulseEvent } from '#pulse/contracts';

/** Parses one stream entry into an event; throws on an entry Pulse did not write. */
export function decodeEntry(topic: string, id: string, fields: string[]): PulseEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const seq = Number.parseInt(id, 10);
  if (!(seq > 0) || f.t === undefined || f.d === undefined || f.e === undefined || f.ts === undefined) {
    throw new Error(`malformed log entry ${id} in topic ${topic}`);
  }
  const event: PulseEvent = { topic, seq, epoch: f.e, type: f.t, ts: Number(f.ts), data: JSON.parse(f.d) };
  if (f.s !== undefined) event.source = f.s;
  return event;
}

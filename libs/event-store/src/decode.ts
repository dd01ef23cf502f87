// Stream entries as events: the one decoder of what the append script writes.
import type { PulseEvent } from '#pulse/contracts';

/**
 * Parses one stream entry into an event; throws on an entry Pulse did not write. A type this
 * version does not know (written by a newer one, during a rolling upgrade) passes through as it
 * is: clients skip types they do not know, and the fold ignores them; failing it would stop the
 * tail, and with it every topic this process delivers.
 */
export function decodeEntry(topic: string, id: string, fields: string[]): PulseEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const seq = Number.parseInt(id, 10);
  if (!(seq > 0) || f.t === undefined || f.d === undefined || f.e === undefined || f.ts === undefined) {
    throw new Error(`malformed log entry ${id} in topic ${topic}`);
  }
  // The append script wrote `data` after ingest (or the tick) made it valid for its type: not parsed
  // again on the tail's hot path.
  const data: unknown = JSON.parse(f.d);
  const event = { topic, seq, epoch: f.e, type: f.t, ts: Number(f.ts), data } as PulseEvent;
  if (f.s !== undefined) event.source = f.s;
  return event;
}

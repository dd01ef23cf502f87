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
  return eventOf(topic, seq, f.e, f.t, Number(f.ts), data, f.s);
}

/** The one shape both decoders build: the same fields, in the same order (frames encode it as it is). */
function eventOf(
  topic: string,
  seq: number,
  epoch: string,
  type: string,
  ts: number,
  data: unknown,
  source: string | undefined,
): PulseEvent {
  const event = { topic, seq, epoch, type, ts, data } as PulseEvent;
  if (source !== undefined) event.source = source;
  return event;
}

/**
 * The events a bell carries (see ring in scripts.ts), as decodeEntry would answer for their log
 * entries; null for a bell that carries only the new head, or one this version cannot read (its
 * topic is read from the log instead).
 */
export function decodeBell(topic: string, message: string): PulseEvent[] | null {
  if (!message.startsWith('{')) return null;
  let bell: { e?: unknown; ts?: unknown; v?: unknown };
  try {
    bell = JSON.parse(message) as typeof bell;
  } catch {
    return null;
  }
  const { e: epoch, ts, v: entries } = bell;
  if (typeof epoch !== 'string' || typeof ts !== 'number' || !Array.isArray(entries) || entries.length === 0) {
    return null;
  }
  const events: PulseEvent[] = [];
  for (const entry of entries as unknown[]) {
    if (!Array.isArray(entry)) return null;
    const [seq, type, data, source] = entry as unknown[];
    const previous = events.at(-1)?.seq;
    if (!Number.isSafeInteger(seq) || (seq as number) <= 0 || (previous !== undefined && seq !== previous + 1)) {
      return null;
    }
    if (typeof type !== 'string' || data === undefined) return null;
    events.push(eventOf(topic, seq as number, epoch, type, ts, data, typeof source === 'string' ? source : undefined));
  }
  return events;
}

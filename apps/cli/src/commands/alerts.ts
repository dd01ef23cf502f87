// `pulse alerts <topic>`: the active alerts of the snapshot, then those resolved among the topic's last events.
import type { PulseEvent, Snapshot } from '#pulse/contracts';
import { alertsLines, alertsText, paint } from '../output.js';
import type { CommandContext } from '../context.js';

/** Events read back for the recently resolved alerts (one page of the API). */
const RECENT_EVENTS = 1000;

export async function alertsCommand(command: { topic: string; json: boolean }, ctx: CommandContext): Promise<number> {
  const { topic } = command;
  // A topic with no events yet is an empty log: no alerts, nothing resolved.
  const snapshot = await ctx.rest.json<Snapshot>('GET', `/api/v1/topics/${topic}/snapshot`);
  const after = Math.max(0, snapshot.seq - RECENT_EVENTS);
  const page =
    snapshot.seq > 0
      ? await ctx.rest.json<{ events: PulseEvent[] }>(
          'GET',
          `/api/v1/topics/${topic}/events?after=${after}&limit=${RECENT_EVENTS}`,
        )
      : { events: [] };
  const resolved = page.events.flatMap((event) =>
    event.type === 'alert.resolved' && event.seq <= snapshot.seq ? [event.data] : [],
  );
  const active = snapshot.alerts ?? [];
  const json = command.json || !ctx.term.outIsTTY;
  const text = json
    ? alertsLines(topic, active, resolved)
    : alertsText(topic, active, resolved, paint(ctx.term.colors));
  if (text) ctx.term.out(`${text}\n`);
  return 0;
}

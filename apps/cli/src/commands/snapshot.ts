// `pulse snapshot <topic>`: the topic's current state.
import type { Snapshot } from '#pulse/contracts';
import { paint, snapshotText } from '../output.js';
import type { CommandContext } from '../context.js';

export async function snapshotCommand(command: { topic: string; json: boolean }, ctx: CommandContext): Promise<number> {
  // A topic with no events is an empty log: seq 0, no epoch yet.
  const snapshot = await ctx.rest.json<Snapshot>('GET', `/api/v1/topics/${command.topic}/snapshot`);
  ctx.term.out(`${command.json ? JSON.stringify(snapshot) : snapshotText(snapshot, paint(ctx.term.colors))}\n`);
  return 0;
}

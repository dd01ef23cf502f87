// `pulse snapshot <topic>`: the topic's current state.
import type { Snapshot } from '#pulse/contracts';
import { CliError } from '../errors.js';
import { paint, snapshotText } from '../output.js';
import { HttpError } from '../rest-client.js';
import type { CommandContext } from '../context.js';

export async function snapshotCommand(command: { topic: string; json: boolean }, ctx: CommandContext): Promise<number> {
  let snapshot: Snapshot;
  try {
    snapshot = await ctx.rest.json<Snapshot>('GET', `/api/v1/topics/${command.topic}/snapshot`);
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) throw new CliError(`topic ${command.topic} has no events; "pulse topics" lists the topics that do`);
    throw error;
  }
  ctx.term.out(`${command.json ? JSON.stringify(snapshot) : snapshotText(snapshot, paint(ctx.term.colors))}\n`);
  return 0;
}

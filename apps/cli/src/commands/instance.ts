// `pulse instance <topic> <id>`: one instance's state, uptime and its hourly attempts.
import type { InstanceHistory } from '#pulse/contracts';
import { CliError } from '../errors.js';
import { instanceText, paint } from '../output.js';
import { HttpError } from '../rest-client.js';
import type { CommandContext } from '../context.js';

const DAY_MS = 86_400_000;

export async function instanceCommand(
  command: { topic: string; instanceId: string; json: boolean },
  ctx: CommandContext,
): Promise<number> {
  const { topic, instanceId } = command;
  const now = Date.now();
  let history: InstanceHistory;
  try {
    history = await ctx.rest.json<InstanceHistory>(
      'GET',
      `/api/v1/topics/${topic}/instances/${encodeURIComponent(instanceId)}?from=${now - DAY_MS}&to=${now}`,
    );
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) {
      throw new CliError(
        `${error.body?.message ?? `topic ${topic} has no instance ${instanceId}`}; "pulse snapshot ${topic}" lists the instances it knows`,
      );
    }
    throw error;
  }
  ctx.term.out(`${command.json ? JSON.stringify(history) : instanceText(history, paint(ctx.term.colors), now)}\n`);
  return 0;
}

// `pulse publish <topic> <type> <json>`: appends one event through the REST ingest and prints its seq.
import { CliError } from '../errors.js';
import { HttpError } from '../rest-client.js';
import type { CommandContext } from '../context.js';

export interface PublishCommand {
  topic: string;
  type: string;
  data: unknown;
  source?: string;
  key?: string;
  json: boolean;
}

export async function publishCommand(command: PublishCommand, ctx: CommandContext): Promise<number> {
  const event = {
    type: command.type,
    data: command.data,
    ...(command.key !== undefined ? { idempotencyKey: command.key } : {}),
  };
  const body = { events: [event], ...(command.source !== undefined ? { source: command.source } : {}) };
  let answer: { epoch: string; seqs: number[] };
  try {
    answer = await ctx.rest.json<{ epoch: string; seqs: number[] }>('POST', `/api/v1/topics/${command.topic}/events`, {
      body,
    });
  } catch (error) {
    if (error instanceof HttpError && error.status === 400 && error.body) {
      // Paths name the request body the CLI built (events.0.data.x); say them in the user's terms.
      const issues = (error.body.issues ?? []).map(
        (issue) => `  ${issue.path.replace(/^events\.0\./, '')}: ${issue.message}`,
      );
      throw new CliError(
        `the gateway refused the event:\n${issues.length > 0 ? issues.join('\n') : `  ${error.body.message}`}`,
      );
    }
    throw error;
  }
  ctx.term.out(
    command.json
      ? `${JSON.stringify(answer)}\n`
      : `published ${command.type} to ${command.topic}: seq ${answer.seqs.join(', ')}\n`,
  );
  return 0;
}

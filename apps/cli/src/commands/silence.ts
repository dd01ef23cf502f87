// `pulse silence <topic>`: a one-off silence from now for --for, matching the topic and optionally a rule and an instance.
import { dateTime, span } from '../output.js';
import type { CommandContext } from '../context.js';

/** The body of POST /api/v1/silences for the command, from `now`. */
export function silenceBody(
  command: { topic: string; ruleId?: string; instanceId?: string; forMs: number; comment: string },
  now: number,
) {
  return {
    matchers: {
      topic: command.topic,
      ...(command.ruleId !== undefined ? { ruleId: command.ruleId } : {}),
      ...(command.instanceId !== undefined ? { instanceId: command.instanceId } : {}),
    },
    startsAt: now,
    endsAt: now + command.forMs,
    comment: command.comment,
  };
}

export async function silenceCommand(
  command: { topic: string; ruleId?: string; instanceId?: string; forMs: number; comment: string; json: boolean },
  ctx: CommandContext,
): Promise<number> {
  const body = silenceBody(command, Date.now());
  const answer = await ctx.rest.json<{ id: string }>('POST', '/api/v1/silences', { body });
  if (command.json) ctx.term.out(`${JSON.stringify({ ...answer, ...body })}\n`);
  else {
    const what = [
      command.ruleId ? `rule ${command.ruleId}` : 'every rule',
      command.instanceId ? `instance ${command.instanceId}` : null,
    ]
      .filter(Boolean)
      .join(', ');
    ctx.term.out(
      `silence ${answer.id}: no notifications for topic ${command.topic} (${what}) until ${dateTime(body.endsAt)} (${span(command.forMs)}); alerts still fire and show\n`,
    );
  }
  return 0;
}

// `pulse rules <topic>`: the topic's alert rules, as a table or JSON lines.
import type { Rule } from '#pulse/contracts';
import { paint, rulesTable } from '../output.js';
import type { CommandContext } from '../context.js';

export async function rulesCommand(command: { topic: string; json: boolean }, ctx: CommandContext): Promise<number> {
  const { topic } = command;
  const answer = await ctx.rest.json<Rule[] | { rules: Rule[] }>('GET', `/api/v1/topics/${topic}/rules`);
  const rules = Array.isArray(answer) ? answer : (answer.rules ?? []);
  const json = command.json || !ctx.term.outIsTTY;
  const text = json
    ? rules.map((rule) => JSON.stringify({ topic, ...rule })).join('\n')
    : rulesTable(topic, rules, paint(ctx.term.colors));
  if (text) ctx.term.out(`${text}\n`);
  return 0;
}

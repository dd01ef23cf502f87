// `pulse topics`: every topic with its head and epoch, page after page of GET /api/v1/topics.
import { paint, topicsTable } from '../output.js';
import type { CommandContext } from '../context.js';

export async function topicsCommand(command: { json: boolean }, ctx: CommandContext): Promise<number> {
  const topics = await ctx.rest.allPages<{ topic: string; head: number; epoch: string }>('/api/v1/topics');
  ctx.term.out(`${command.json ? JSON.stringify(topics) : topicsTable(topics, paint(ctx.term.colors))}\n`);
  return 0;
}

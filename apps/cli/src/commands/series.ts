// `pulse series <topic>`: the topic's buckets from --since ago until now, as a table or JSON lines.
import { STEP_MS, type SeriesResponse, type SeriesStep } from '#pulse/contracts';
import { paint, seriesLines, seriesTable } from '../output.js';
import type { CommandContext } from '../context.js';

/** The query for `sinceMs` back from `now`: `from` on the start of its bucket, as the server aligns them. */
export function seriesQuery(step: SeriesStep, sinceMs: number, now: number): string {
  const stepMs = STEP_MS[step];
  const from = Math.floor((now - sinceMs) / stepMs) * stepMs;
  return `step=${step}&from=${from}&to=${now}`;
}

export async function seriesCommand(
  command: { topic: string; step: SeriesStep; sinceMs: number; json: boolean },
  ctx: CommandContext,
): Promise<number> {
  // An unknown topic reads as zeros, not as an error: the series of a quiet topic.
  const page = await ctx.rest.json<SeriesResponse>(
    'GET',
    `/api/v1/topics/${command.topic}/series?${seriesQuery(command.step, command.sinceMs, Date.now())}`,
  );
  const json = command.json || !ctx.term.outIsTTY;
  const text = json ? seriesLines(page) : seriesTable(page, paint(ctx.term.colors));
  if (text) ctx.term.out(`${text}\n`);
  return 0;
}

// `pulse rebuild <topic> [--apply]`: streams the admin rebuild, shows its progress, then the drift (exit 1 while drift stays).
import type { Drift } from '../output.js';
import { driftTable, paint, progressBar } from '../output.js';
import { CliError } from '../errors.js';
import { HttpError, isErrorBody, lines } from '../rest-client.js';
import type { CommandContext } from '../context.js';

/** The last line of the rebuild stream. */
export interface RebuildResult {
  seq: number;
  drift: Drift[];
  applied: boolean;
  /** --apply was asked but events were appended meanwhile: nothing was written. */
  moved: boolean;
}

export async function rebuildCommand(
  command: { topic: string; apply: boolean; json: boolean },
  ctx: CommandContext,
): Promise<number> {
  const { topic, apply } = command;
  const { term } = ctx;
  const { url, response } = await ctx.rest.send(
    'POST',
    `/api/v1/admin/topics/${topic}/rebuild${apply ? '?apply=1' : ''}`,
  );
  if (!response.ok || !response.body) {
    const body = (await response.json().catch(() => null)) as unknown;
    if (response.status === 404)
      throw new CliError(
        `topic ${topic} has no events, so there is nothing to rebuild; "pulse topics" lists the topics`,
      );
    throw new HttpError(response.status, isErrorBody(body) ? body : null, url);
  }

  let result: RebuildResult | null = null;
  let drawn = false;
  try {
    for await (const line of lines(response.body)) {
      const message = JSON.parse(line) as Partial<RebuildResult> & {
        folded?: number;
        head?: number;
        ok?: boolean;
        message?: string;
      };
      if (message.ok === false) throw new CliError(`${message.message ?? 'the rebuild failed'} (from ${url})`);
      if (typeof message.folded === 'number' && typeof message.head === 'number') {
        if (term.errIsTTY) {
          term.err(`\r\x1b[Krebuilding ${topic}  ${progressBar(message.folded, message.head)}`);
          drawn = true;
        } else term.err(`pulse: rebuilding ${topic}: folded ${message.folded}/${message.head} events\n`);
      } else if (Array.isArray(message.drift)) result = message as RebuildResult;
    }
  } finally {
    if (drawn) term.err('\r\x1b[K');
  }
  if (!result) throw new CliError(`${url} ended the rebuild of ${topic} without a result; run it again`);

  const p = paint(term.colors);
  if (command.json) term.out(`${JSON.stringify(result)}\n`);
  else if (result.drift.length === 0)
    term.out(`no drift: the live projection of ${topic} matches its log up to seq ${result.seq}\n`);
  else {
    term.out(
      `drift in ${topic} at seq ${result.seq}: ${result.drift.length} difference(s)\n${driftTable(result.drift, p)}\n`,
    );
    if (result.applied) term.out(`applied: the live projection of ${topic} is now the rebuilt one\n`);
  }
  if (result.drift.length === 0 || result.applied) return 0;
  term.err(
    result.moved
      ? `pulse: not applied: events were appended to ${topic} during the rebuild; run "pulse rebuild ${topic} --apply" again\n`
      : `pulse: the live projection of ${topic} differs from its log; re-run with --apply to replace it with the rebuilt one: pulse rebuild ${topic} --apply\n`,
  );
  return 1;
}

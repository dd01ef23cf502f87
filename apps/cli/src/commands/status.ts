// `pulse status`: each gateway's readiness, viewers per topic, and the monitor-tick scheduler.
import { paint, statusText, type StatusReport } from '../output.js';
import { UnreachableError } from '../rest-client.js';
import type { CommandContext } from '../context.js';

interface Readiness {
  ok: boolean;
  redis: string;
  tail: string;
  topics: number;
}

async function readiness(url: string, ctx: CommandContext): Promise<StatusReport['gateways'][number]> {
  try {
    const { response } = await ctx.rest.send('GET', '/readyz', { url });
    const body = (await response.json().catch(() => null)) as Readiness | null;
    if (!body || typeof body.redis !== 'string')
      return { url, state: 'not ready', detail: `HTTP ${response.status} from /readyz` };
    const detail = `redis ${body.redis}, log tail ${body.tail}, ${body.topics} topic(s) tailed`;
    return { url, state: response.ok && body.ok ? 'up' : 'not ready', detail };
  } catch (error) {
    return {
      url,
      state: 'down',
      detail:
        error instanceof UnreachableError ? error.failures.map((f) => f.reason).join(', ') : (error as Error).message,
    };
  }
}

/** Asks the answering gateways in order for `path`; null (and a problem noted) if none gives it. */
async function firstAnswer<T>(
  path: string,
  what: string,
  urls: string[],
  ctx: CommandContext,
  problems: string[],
): Promise<T | null> {
  const reasons: string[] = [];
  for (const url of urls) {
    try {
      return await ctx.rest.json<T>('GET', path, { url });
    } catch (error) {
      reasons.push((error as Error).message);
    }
  }
  problems.push(`${what} unknown: ${reasons.join('; ') || 'no gateway is up'}`);
  return null;
}

export async function statusCommand(command: { json: boolean }, ctx: CommandContext): Promise<number> {
  const gateways = await Promise.all(ctx.urls.map((url) => readiness(url, ctx)));
  const answering = gateways.filter((gateway) => gateway.state !== 'down').map((gateway) => gateway.url);
  const problems: string[] = [];
  const [presence, scheduler] = await Promise.all([
    firstAnswer<{ topics: Record<string, number> }>('/api/v1/admin/presence', 'viewers', answering, ctx, problems),
    firstAnswer<StatusReport['scheduler']>('/api/v1/admin/scheduler', 'tick scheduler', answering, ctx, problems),
  ]);
  const report: StatusReport = { gateways, presence: presence?.topics ?? null, scheduler, problems };
  ctx.term.out(`${command.json ? JSON.stringify(report) : statusText(report, paint(ctx.term.colors))}\n`);

  const down = gateways.filter((gateway) => gateway.state === 'down');
  if (answering.length === 0) {
    ctx.term.err(
      `pulse: ${new UnreachableError(down.map((gateway) => ({ url: gateway.url, reason: gateway.detail }))).message}\n`,
    );
    return 1;
  }
  const notUp = gateways.filter((gateway) => gateway.state !== 'up');
  if (notUp.length > 0) {
    ctx.term.err(
      `pulse: ${notUp.length} of ${gateways.length} gateway(s) not up: ${notUp.map((g) => `${g.url} (${g.state})`).join(', ')}; check those processes and their logs\n`,
    );
    return 1;
  }
  return 0;
}

// `pulse tail <topic>`: follows a topic with the client SDK, printing every event once, in order, across reconnects.
import { PulseClient } from '#pulse/client';
import type { PulseEvent } from '#pulse/contracts';
import { CliError, UsageError } from '../errors.js';
import { eventJson, eventLine, paint } from '../output.js';
import { HttpError } from '../rest-client.js';
import { TailFollower, type EventsPage } from '../tail-follower.js';
import type { CommandContext } from '../context.js';

export interface TailCommand {
  topic: string;
  since: number | null;
  types: string[];
  json: boolean;
}

/** Not live for this long at the start: say that it keeps trying. */
const SLOW_START_MS = 5000;

const eventsPath = (topic: string, after: number, limit: number) =>
  `/api/v1/topics/${topic}/events?after=${after}&limit=${limit}`;

/** Fails fast when no gateway answers or `--since` does not fit the log (a topic with no events yet is an empty log: head 0). */
async function check(command: TailCommand, ctx: CommandContext): Promise<void> {
  const { topic, since } = command;
  try {
    await ctx.rest.json<EventsPage>('GET', eventsPath(topic, since ?? 0, 1));
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    if (error.status === 400 && error.body?.issues?.some((issue) => issue.path === 'after')) {
      throw new UsageError(`--since ${since} is beyond the last seq of ${topic} (${error.body.message})`, 'tail');
    }
    // 410: those events were trimmed; without --since the tail starts at the head and needs none of them.
    if (error.status === 410 && since === null) return;
    if (error.status === 410)
      throw new CliError(
        `${error.body?.message ?? error.message}; use a later --since, or leave it out to follow from now`,
      );
    throw error;
  }
}

export async function tailCommand(command: TailCommand, ctx: CommandContext): Promise<number> {
  const { topic, types } = command;
  const { term } = ctx;
  const json = command.json || !term.outIsTTY;
  const p = paint(term.colors && !json);
  const note = (message: string) => term.err(`pulse: ${message}\n`);

  const checked = await check(command, ctx).then(
    () => true,
    (error: unknown) => {
      if (ctx.interrupted.aborted) return false;
      throw error;
    },
  );
  // Ctrl-C is how a tail ends, even before it started following.
  if (!checked || ctx.interrupted.aborted) return 0;

  // Set from callbacks: an object, so the compiler does not narrow it to its first value.
  const outcome: { failure: Error | null } = { failure: null };
  let finish = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  ctx.interrupted.addEventListener('abort', () => finish(), { once: true });

  const follower = new TailFollower({
    topic,
    since: command.since,
    fetchPage: async (after, limit) => {
      try {
        return await ctx.rest.json<EventsPage>('GET', eventsPath(topic, after, limit));
      } catch (error) {
        throw error instanceof HttpError && error.body ? new Error(error.body.message) : error;
      }
    },
    emit: (event: PulseEvent) => {
      if (types.length > 0 && !types.includes(event.type)) return;
      term.out(`${json ? eventJson(event) : eventLine(event, p, term.columns)}\n`);
    },
    note,
    fail: (message, usage) => {
      outcome.failure = usage ? new UsageError(message, 'tail') : new CliError(message);
      finish();
    },
  });

  const client = new PulseClient({ urls: ctx.urls, ...(ctx.token !== undefined ? { token: ctx.token } : {}) });
  let wasLive = false;
  let unavailableNoted = false;
  const slowStart = setTimeout(
    () => note(`no live connection to ${ctx.urls.join(' or ')} yet; still trying (Ctrl-C to stop)`),
    SLOW_START_MS,
  );
  client.onState((state, gateway) => {
    switch (state) {
      case 'live':
        wasLive = true;
        unavailableNoted = false;
        clearTimeout(slowStart);
        return;
      // Not live any more: the connection dropped (onRecovered follows) or the gateway asked for a resync (onSnapshot follows).
      case 'recovering':
        if (wasLive) note(`lost the live feed from ${gateway}; resuming`);
        return;
      case 'stale':
        if (wasLive) note(`still not live again; retrying every few seconds (Ctrl-C to stop)`);
        return;
      case 'connecting':
        return;
    }
  });
  // A refused handshake (bad or expired token, origin, too many connections) will not mend by retrying.
  client.onError((error, gateway) => {
    outcome.failure = new CliError(
      `${gateway} refused the connection: ${error.code}${error.reason ? ` (${error.reason})` : ''}: ${error.message}${error.code === 'UNAUTHORIZED' ? ' (check --token or PULSE_TOKEN)' : ''}`,
    );
    finish();
  });
  client.subscribe(topic, {
    onEvent: (event) => follower.onEvent(event),
    onSnapshot: (snapshot, reason) => follower.onSnapshot(snapshot, reason),
    onRecovered: (info) => follower.onRecovered(info),
    onError: (error) => {
      switch (error.code) {
        case 'UNAVAILABLE':
          // Retried every second by the SDK: said once per outage.
          if (!unavailableNoted) note(`${error.message}; retrying`);
          unavailableNoted = true;
          return;
        case 'NOT_FOUND':
        case 'BAD_REQUEST':
        case 'UNAUTHORIZED':
        case 'FORBIDDEN':
        case 'RATE_LIMITED':
          outcome.failure = new CliError(
            `the gateway refused to follow ${topic}: ${error.code}: ${error.message}${error.code === 'UNAUTHORIZED' || error.code === 'FORBIDDEN' ? ' (check --token or PULSE_TOKEN)' : ''}`,
          );
          finish();
          return;
      }
    },
  });
  client.connect();

  await finished;
  clearTimeout(slowStart);
  follower.stop();
  client.close();
  if (outcome.failure && !ctx.interrupted.aborted) throw outcome.failure;
  return 0;
}

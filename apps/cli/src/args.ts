// The pulse command line: flags and positionals parsed into one typed invocation, or a UsageError saying what is wrong.
import { parseArgs } from 'node:util';
import { ROLES, TOPIC_PATTERN_SCHEMA, type Role } from '#pulse/auth';
import {
  alertIdPartSchema,
  EVENT_TYPES,
  idSchema,
  isEventType,
  MAX_SERIES_POINTS,
  SERIES_STEPS,
  STEP_MS,
  TOPIC_PATTERN,
  type SeriesStep,
} from '#pulse/contracts';
import { UsageError } from './errors.js';

/** Where commands go when no `--url` is given. */
export const DEFAULT_URL = 'http://127.0.0.1:3000';

export type Command =
  | { name: 'tail'; topic: string; since: number | null; types: string[]; json: boolean }
  | { name: 'snapshot'; topic: string; json: boolean }
  | { name: 'topics'; json: boolean }
  | { name: 'publish'; topic: string; type: string; data: unknown; source?: string; key?: string; json: boolean }
  | { name: 'rebuild'; topic: string; apply: boolean; json: boolean }
  | { name: 'status'; json: boolean }
  | { name: 'series'; topic: string; step: SeriesStep; sinceMs: number; json: boolean }
  | { name: 'instance'; topic: string; instanceId: string; json: boolean }
  | { name: 'token'; sub: string; role: Role; topics: string[]; ttlSeconds: number; json: boolean }
  | { name: 'alerts'; topic: string; json: boolean }
  | { name: 'rules'; topic: string; json: boolean }
  | {
      name: 'silence';
      topic: string;
      ruleId?: string;
      instanceId?: string;
      forMs: number;
      comment: string;
      json: boolean;
    }
  | { name: 'help'; command?: CommandName };

export type CommandName = Exclude<Command['name'], 'help'>;

export interface Invocation {
  command: Command;
  /** Gateways in the order to try them, without trailing slashes. */
  urls: string[];
  token?: string;
}

/** Every flag any command takes; each command accepts its own plus the global ones. */
const OPTIONS = {
  url: { type: 'string', multiple: true },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  since: { type: 'string' },
  type: { type: 'string', multiple: true },
  apply: { type: 'boolean' },
  source: { type: 'string' },
  key: { type: 'string' },
  sub: { type: 'string' },
  role: { type: 'string' },
  topic: { type: 'string', multiple: true },
  ttl: { type: 'string' },
  step: { type: 'string' },
  rule: { type: 'string' },
  instance: { type: 'string' },
  for: { type: 'string' },
  comment: { type: 'string' },
} as const;

type OptionName = keyof typeof OPTIONS;
const GLOBAL_OPTIONS: OptionName[] = ['url', 'token', 'help'];

interface CommandSpec {
  positionals: string[];
  options: OptionName[];
  summary: string;
  usage: string;
}

export const COMMANDS: Record<CommandName, CommandSpec> = {
  tail: {
    positionals: ['topic'],
    options: ['since', 'type', 'json'],
    summary: "follow a topic's events as they are appended",
    usage: `Usage: pulse tail <topic> [--since <seq>] [--type <type>]... [--json]

Prints each event of <topic> once, in seq order, as it is appended. After a
disconnect it resumes by itself: the missed events are printed, or a note on
stderr says that a snapshot replaced them. Ctrl-C stops it (exit 0).

  --since <seq>   start after this seq of the topic's current log (0: from the
                  first event); without it, from now
  --type <type>   print only events of this type; repeatable
                  (${EVENT_TYPES.join(', ')})
  --json          one JSON envelope per line; the default when stdout is not a terminal`,
  },
  snapshot: {
    positionals: ['topic'],
    options: ['json'],
    summary: "a topic's current state: status, statistics, instances",
    usage: `Usage: pulse snapshot <topic> [--json]

Prints the state of <topic> (the fold of its log up to the seq shown).

  --json   the snapshot as the API answers it`,
  },
  topics: {
    positionals: [],
    options: ['json'],
    summary: 'every topic with its head seq and epoch',
    usage: `Usage: pulse topics [--json]

Lists the topics that have events: name, last seq (head) and epoch.

  --json   the list as the API answers it`,
  },
  publish: {
    positionals: ['topic', 'type', 'json'],
    options: ['source', 'key', 'json'],
    summary: 'append one event to a topic and print its seq',
    usage: `Usage: pulse publish <topic> <type> <json> [--source <id>] [--key <idempotency key>] [--json]

Appends one event of <type> with <json> as its data, e.g.
  pulse publish demo attempt.recorded '{"instanceId":"i-1","outcome":"success"}'

  --source <id>   the producer id stored with the event
  --key <key>     idempotency key: publishing again with the same key appends nothing
                  and prints the seq the first one got
  --json          the API's answer ({ epoch, seqs })`,
  },
  rebuild: {
    positionals: ['topic'],
    options: ['apply', 'json'],
    summary: 'fold the log again and compare it with the live projection',
    usage: `Usage: pulse rebuild <topic> [--apply] [--json]

Folds the log of <topic> into a fresh projection and compares it with the live
one. Exit code 0 when they agree (or the rebuilt one was applied), 1 when they
differ and --apply was not given.

  --apply   replace the live projection with the rebuilt one when they differ
  --json    the final result line of the API ({ seq, drift, applied, moved })`,
  },
  series: {
    positionals: ['topic'],
    options: ['step', 'since', 'json'],
    summary: "a topic's attempts, success rate, durations and active instances per minute, hour or day",
    usage: `Usage: pulse series <topic> [--step 1m|1h|1d] [--since <duration>] [--json]

Prints one row per bucket of <topic> from --since ago until now, oldest first:
attempts, successes, failures, success rate, average and longest duration, and
the active instances the monitor tick counted. Buckets where nothing happened
read 0 (and - where the tick wrote no gauge).

  --step <step>       bucket size: 1m, 1h or 1d (default 1h); the server keeps
                      1m buckets for 48 h, 1h for 90 d and 1d for 730 d by default
  --since <duration>  how far back: a number with m, h or d, like 90m, 24h or 30d
                      (default 24h); at most ${MAX_SERIES_POINTS} buckets
  --json              one JSON object per bucket and line; the default when stdout
                      is not a terminal`,
  },
  instance: {
    positionals: ['topic', 'id'],
    options: ['json'],
    summary: 'one instance: its state, uptime over 24 h / 7 d / 30 d, hourly attempts',
    usage: `Usage: pulse instance <topic> <id> [--json]

Prints the state of instance <id> of <topic>, the percent of the last 24 h, 7 d
and 30 d (since it was first seen) that it was not offline, and its attempts and
failures per hour over the last 24 h. Exit code 1 when the topic does not know it
(never seen, or removed after being offline longer than PULSE_INSTANCE_FORGET_MS).

  --json   the API's answer as one JSON document`,
  },
  alerts: {
    positionals: ['topic'],
    options: ['json'],
    summary: "a topic's alerts: firing ones first, then the recently resolved",
    usage: `Usage: pulse alerts <topic> [--json]

Prints the alerts of <topic> that are active now (firing first: critical, then
warning, then info; the longest firing first), with since when and for how long,
then the ones resolved among the topic's last 1000 events.

  --json   one JSON object per alert and line ({ topic, state, alertId, … });
           the default when stdout is not a terminal`,
  },
  rules: {
    positionals: ['topic'],
    options: ['json'],
    summary: "a topic's alert rules",
    usage: `Usage: pulse rules <topic> [--json]

Lists the alert rules of <topic>: id, kind, condition, how long it must hold
(for), severity and the channels it notifies. Rules are set with
PUT /api/v1/topics/<topic>/rules/<id> (see the README, "Alerts").

  --json   one JSON object per rule and line; the default when stdout is not a terminal`,
  },
  silence: {
    positionals: ['topic'],
    options: ['rule', 'instance', 'for', 'comment', 'json'],
    summary: "silence a topic's notifications (all, one rule, one instance) for a while",
    usage: `Usage: pulse silence <topic> [--rule <id>] [--instance <id>] --for <duration> --comment <text> [--json]

Creates a silence from now on: notifications of the matching alerts are not sent
until it ends. Alerts still fire and resolve (and show on the dashboard), and an
alert already notified as firing still gets its resolved notification. Needs an
admin token.

  --rule <id>          only alerts of this rule (default: every rule of <topic>)
  --instance <id>      only alerts of this instance (default: every instance)
  --for <duration>     how long: a number with m, h or d, like 30m, 2h or 7d (1m to 366d)
  --comment <text>     why, for whoever wonders later (required)
  --json               the API's answer ({ id }) with the silence sent`,
  },
  status: {
    positionals: [],
    options: ['json'],
    summary: 'gateways up or down, viewers per topic, the tick scheduler',
    usage: `Usage: pulse status [--json]

Asks every --url gateway whether it is ready, then one of them for the viewers
per topic and the monitor-tick scheduler. Exit code 1 when a gateway is not ready.

  --json   everything as one JSON document`,
  },
  token: {
    positionals: [],
    options: ['sub', 'role', 'topic', 'ttl', 'json'],
    summary: 'mint an access token (needs PULSE_AUTH_SECRET)',
    usage: `Usage: pulse token --sub <id> --role <role> [--topic <pattern>]... [--ttl <duration>] [--json]

Prints a token signed with PULSE_AUTH_SECRET (HS256), or with PULSE_AUTH_PRIVATE_KEY
(PEM, PKCS#8) and PULSE_AUTH_ALG (RS256, ES256, EdDSA) for gateways that check a public key.
Pass it to other commands with --token or PULSE_TOKEN, to the dashboard as
http://gateway/#token=<token>, or as "Authorization: Bearer <token>".

  --sub <id>          who holds it (shown in logs and limits)
  --role <role>       ${ROLES.join(', ')}: viewers subscribe to and read their
                      topics, publishers ingest to theirs, metrics may
                      only scrape /metrics, admins do everything
  --topic <pattern>   a topic it covers, * as wildcard (e.g. demo, orders.*); repeatable
                      (default: * — every topic)
  --ttl <duration>    lifetime: seconds, or with s, m, h or d (default 1h)
  --json              { token, sub, role, topics, expiresAt }`,
  },
};

export const GENERAL_USAGE = `Usage: pulse <command> [options]

Commands:
${(Object.entries(COMMANDS) as [CommandName, CommandSpec][])
  .map(([name, spec]) => `  ${`${name} ${spec.positionals.map((p) => `<${p}>`).join(' ')}`.padEnd(31)}${spec.summary}`)
  .join('\n')}
  ${'help [command]'.padEnd(31)}this help, or a command's

Options for every command:
  --url <url>       a gateway; repeat it to fail over, tried in order
                    (default ${DEFAULT_URL})
  --token <token>   sent as "Authorization: Bearer <token>" and as the socket's auth token
                    (default: the PULSE_TOKEN environment variable)
  -h, --help        show help

"pulse help <command>" shows a command's options.`;

/** The usage text of `command`, or the general one. */
export function usageOf(command?: string): string {
  return command && command in COMMANDS ? COMMANDS[command as CommandName].usage : GENERAL_USAGE;
}

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

function parseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url must be a gateway URL like ${DEFAULT_URL}, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--url must start with http:// or https://, got "${raw}"`);
  // fetch will not send a request to such a URL; a token goes with --token or PULSE_TOKEN.
  if (url.username !== '' || url.password !== '') {
    if (url.password !== '') url.password = '***';
    throw new UsageError(
      `--url must not hold a user name or password (give a token with --token or PULSE_TOKEN), got "${url.href}"`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

/**
 * The token to send as "Authorization: Bearer <token>", from `from` (--token or PULSE_TOKEN): one
 * word of printable ASCII, as `pulse token` prints it (a header cannot hold anything else).
 */
export function checkToken(token: string, from: '--token' | 'PULSE_TOKEN'): string {
  if (token === '') throw new UsageError(`${from} is empty: give a token as pulse token prints it`);
  const bad = /[^\x21-\x7e]/.exec(token);
  if (bad) {
    // Not the token itself: it is a secret.
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw new UsageError(
      `${from} must be a token as pulse token prints it, printable ASCII without spaces or line breaks: character ${bad.index + 1} is U+${code}`,
    );
  }
  return token;
}

function parseTopic(raw: string, command: CommandName): string {
  if (!TOPIC_PATTERN.test(raw))
    throw new UsageError(
      `"${raw}" is not a topic name: 1-64 chars of a-z 0-9 . _ -, starting with a letter or digit`,
      command,
    );
  return raw;
}

function parseSince(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value))
    throw new UsageError(`--since must be a whole number >= 0 (a seq of the topic), got "${raw}"`, 'tail');
  return value;
}

/** `JSON.parse` with an error that names where the text goes wrong, and points at it. */
export function parseJsonArgument(raw: string, what: string, command: CommandName): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    const reason = (error as Error).message;
    const match = /at position (\d+)/.exec(reason);
    // Node 20 says "… in JSON at position N"; at the end of the text it says "Unexpected end of JSON input".
    const position = match ? Number(match[1]) : /end of JSON input/.test(reason) ? raw.length : null;
    const why = reason.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+/, '');
    if (position === null) throw new UsageError(`${what} is not valid JSON: ${why}`, command);
    const start = Math.max(0, position - 30);
    const excerpt = raw.slice(start, position + 30);
    throw new UsageError(
      `${what} is not valid JSON at position ${position}: ${why}\n  ${excerpt}\n  ${' '.repeat(position - start)}^`,
      command,
    );
  }
}

/** Parses `argv` (without node and the script); throws UsageError on anything it cannot accept. */
export function parseCommandLine(argv: string[]): Invocation {
  let parsed: { values: Partial<Record<OptionName, string | boolean | string[]>>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message, commandIn(argv));
  }
  const values = parsed.values as {
    url?: string[];
    token?: string;
    help?: boolean;
    json?: boolean;
    since?: string;
    type?: string[];
    apply?: boolean;
    source?: string;
    key?: string;
    sub?: string;
    role?: string;
    topic?: string[];
    ttl?: string;
    step?: string;
    rule?: string;
    instance?: string;
    for?: string;
    comment?: string;
  };
  const [name, ...args] = parsed.positionals;
  const urls = (values.url ?? [DEFAULT_URL]).map(parseUrl);
  const common = { urls, ...(values.token !== undefined ? { token: checkToken(values.token, '--token') } : {}) };

  if (name === undefined) {
    if (values.help) return { ...common, command: { name: 'help' } };
    throw new UsageError('no command given');
  }
  if (name === 'help') {
    const [about] = args;
    if (about !== undefined && !isCommand(about)) throw new UsageError(`unknown command "${about}"`);
    return { ...common, command: about ? { name: 'help', command: about } : { name: 'help' } };
  }
  if (!isCommand(name)) throw new UsageError(`unknown command "${name}"`);
  if (values.help) return { ...common, command: { name: 'help', command: name } };

  const spec = COMMANDS[name];
  for (const option of Object.keys(values) as OptionName[]) {
    if (!GLOBAL_OPTIONS.includes(option) && !spec.options.includes(option))
      throw new UsageError(`${name} does not take --${option}`, name);
  }
  if (args.length < spec.positionals.length) {
    const missing = spec.positionals.slice(args.length).map((p) => `<${p}>`);
    throw new UsageError(`${name} needs ${missing.join(' ')}`, name);
  }
  if (args.length > spec.positionals.length)
    throw new UsageError(
      `${name} takes ${spec.positionals.length || 'no'} argument(s); unexpected "${args[spec.positionals.length]}"`,
      name,
    );
  const json = values.json ?? false;

  switch (name) {
    case 'tail': {
      const types = values.type ?? [];
      const unknown = types.filter((type) => !isEventType(type));
      if (unknown.length > 0)
        throw new UsageError(
          `--type ${unknown.join(', ')} is not an event type; expected one of ${EVENT_TYPES.join(', ')}`,
          name,
        );
      return {
        ...common,
        command: { name, topic: parseTopic(args[0]!, name), since: parseSince(values.since), types, json },
      };
    }
    case 'snapshot':
      return { ...common, command: { name, topic: parseTopic(args[0]!, name), json } };
    case 'topics':
    case 'status':
      return { ...common, command: { name, json } };
    case 'publish': {
      const [topic, type, data] = args as [string, string, string];
      return {
        ...common,
        command: {
          name,
          topic: parseTopic(topic, name),
          type,
          data: parseJsonArgument(data, '<json> (the third argument)', name),
          ...(values.source !== undefined ? { source: values.source } : {}),
          ...(values.key !== undefined ? { key: values.key } : {}),
          json,
        },
      };
    }
    case 'series': {
      const step = parseStep(values.step);
      const sinceMs =
        values.since === undefined
          ? 86_400_000
          : parseSpan(values.since, { option: '--since', command: name, maxDays: 730 });
      const buckets = Math.ceil(sinceMs / STEP_MS[step]) + 1;
      if (buckets > MAX_SERIES_POINTS)
        throw new UsageError(
          `--since ${values.since} at --step ${step} is ${buckets} buckets; at most ${MAX_SERIES_POINTS}: use a coarser --step or a shorter --since`,
          name,
        );
      return { ...common, command: { name, topic: parseTopic(args[0]!, name), step, sinceMs, json } };
    }
    case 'instance': {
      const [topic, instanceId] = args as [string, string];
      return {
        ...common,
        command: {
          name,
          topic: parseTopic(topic, name),
          instanceId: parseId(instanceId, 'an instance id', name),
          json,
        },
      };
    }
    case 'rebuild':
      return { ...common, command: { name, topic: parseTopic(args[0]!, name), apply: values.apply ?? false, json } };
    case 'alerts':
    case 'rules':
      return { ...common, command: { name, topic: parseTopic(args[0]!, name), json } };
    case 'silence': {
      if (values.for === undefined) throw new UsageError('silence needs --for <duration>, like 30m, 2h or 7d', name);
      const forMs = parseSpan(values.for, { option: '--for', command: name, maxDays: 366 });
      const comment = values.comment?.trim();
      if (!comment) throw new UsageError('silence needs --comment <text>: say why, for whoever wonders later', name);
      if (comment.length > 500) throw new UsageError(`--comment is ${comment.length} characters; at most 500`, name);
      const ruleId = values.rule === undefined ? undefined : values.rule;
      if (ruleId !== undefined && !alertIdPartSchema.safeParse(ruleId).success)
        throw new UsageError(
          `"${ruleId}" is not a rule id (--rule): 1-64 chars of A-Z a-z 0-9 . _ -, starting with a letter or digit`,
          name,
        );
      const instanceId =
        values.instance === undefined ? undefined : parseId(values.instance, 'an instance id (--instance)', name);
      return {
        ...common,
        command: {
          name,
          topic: parseTopic(args[0]!, name),
          ...(ruleId !== undefined ? { ruleId } : {}),
          ...(instanceId !== undefined ? { instanceId } : {}),
          forMs,
          comment,
          json,
        },
      };
    }
    case 'token': {
      if (!values.sub?.trim()) throw new UsageError('token needs --sub <id>', name);
      if (!values.role || !(ROLES as readonly string[]).includes(values.role))
        throw new UsageError(
          `token needs --role ${ROLES.join('|')}${values.role ? `, got "${values.role}"` : ''}`,
          name,
        );
      const topics = values.topic ?? ['*'];
      const bad = topics.filter((pattern) => !TOPIC_PATTERN_SCHEMA.safeParse(pattern).success);
      if (bad.length > 0)
        throw new UsageError(
          `--topic ${bad.join(', ')} is not a topic pattern: 1-64 chars of a-z 0-9 . _ - and * as a wildcard`,
          name,
        );
      return {
        ...common,
        command: {
          name,
          sub: values.sub.trim(),
          role: values.role as Role,
          topics,
          ttlSeconds: parseTtl(values.ttl),
          json,
        },
      };
    }
  }
}

const TTL_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** `--ttl`: seconds, or a number with s, m, h or d. */
function parseTtl(raw: string | undefined): number {
  if (raw === undefined) return 3600;
  const match = /^(\d+)([smhd]?)$/.exec(raw.trim());
  const seconds = match ? Number(match[1]) * TTL_UNITS[match[2]!]! : 0;
  if (!match || seconds < 1 || seconds > 366 * 86_400)
    throw new UsageError(
      `--ttl must be a duration from 1s to 366d, like 3600, 90s, 30m, 12h or 7d; got "${raw}"`,
      'token',
    );
  return seconds;
}

function parseStep(raw: string | undefined): SeriesStep {
  if (raw === undefined) return '1h';
  if (!(SERIES_STEPS as readonly string[]).includes(raw))
    throw new UsageError(`--step must be 1m, 1h or 1d, got "${raw}"`, 'series');
  return raw as SeriesStep;
}

const SPAN_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A span like 90m, 24h or 30d (`--since` of series, `--for` of silence), from 1m to `maxDays`. */
function parseSpan(raw: string, where: { option: string; command: CommandName; maxDays: number }): number {
  const match = /^(\d+)([mhd])$/.exec(raw.trim());
  const ms = match ? Number(match[1]) * SPAN_UNITS[match[2]!]! : 0;
  if (!match || ms < 60_000 || ms > where.maxDays * 86_400_000)
    throw new UsageError(
      `${where.option} must be a duration from 1m to ${where.maxDays}d, like 90m, 24h or 30d; got "${raw}"`,
      where.command,
    );
  return ms;
}

/** An instance or rule id: 1-128 chars of A-Z a-z 0-9 . _ : @ / -, starting with a letter or digit. */
function parseId(raw: string, what: string, command: CommandName): string {
  if (!idSchema.safeParse(raw).success)
    throw new UsageError(
      `"${raw}" is not ${what}: 1-128 chars of A-Z a-z 0-9 . _ : @ / -, starting with a letter or digit`,
      command,
    );
  return raw;
}

/** The first argument that names a command, for the usage shown with a flag error. */
function commandIn(argv: string[]): string | undefined {
  return argv.find((arg) => isCommand(arg));
}

// The environment contract of every Pulse process: one schema, validated once at start.
import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import { ASYMMETRIC_ALGS, type AsymmetricAlg } from '#pulse/auth';

const wholeNumber = (name: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return fallback;
      const value = Number(raw);
      if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max}, got "${raw}"` });
        return z.NEVER;
      }
      return value;
    });

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `1m:48h,1h:90d,1d:730d`: how long series buckets of each step are kept, in ms per step. */
const seriesRetention = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const value = raw?.trim() ? raw.trim() : '1m:48h,1h:90d,1d:730d';
    const kept: Record<'1m' | '1h' | '1d', number> = {
      '1m': 48 * 3_600_000,
      '1h': 90 * 86_400_000,
      '1d': 730 * 86_400_000,
    };
    const problems: string[] = [];
    for (const part of value
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean)) {
      const match = /^(1m|1h|1d):(\d+)(ms|s|m|h|d)$/.exec(part);
      if (!match) {
        problems.push(`"${part}" is not <step>:<duration> with step 1m, 1h or 1d and a duration like 48h or 90d`);
        continue;
      }
      const step = match[1] as '1m' | '1h' | '1d';
      const ms = Number(match[2]) * DURATION_UNITS[match[3]!]!;
      if (ms < 60_000 || ms > 3650 * 86_400_000)
        problems.push(`${step} must be kept from 1m to 3650d, got ${match[2]}${match[3]}`);
      else kept[step] = ms;
    }
    if (problems.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `PULSE_SERIES_RETENTION (e.g. 1m:48h,1h:90d,1d:730d): ${problems.join('; ')}, got "${raw}"`,
      });
      return z.NEVER;
    }
    return kept;
  });

const flag = (name: string, fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return fallback;
      const value = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(value)) return true;
      if (['0', 'false', 'no', 'off'].includes(value)) return false;
      ctx.addIssue({ code: 'custom', message: `${name} must be 1/true/yes/on or 0/false/no/off, got "${raw}"` });
      return z.NEVER;
    });

/** One redis:// or rediss:// URL; REDIS_URL may hold several (comma-separated) as a cluster's seed nodes. */
const redisUrl = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const value = raw === undefined || raw.trim() === '' ? 'redis://127.0.0.1:6379' : raw.trim();
    for (const part of value.split(',').map((url) => url.trim())) {
      let url: URL;
      try {
        url = new URL(part);
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: `REDIS_URL must be a URL like redis://host:6379 (or, with REDIS_CLUSTER=1, several comma-separated; a password with / : @ # or % percent-encoded), got "${withoutCredentials(part)}"`,
        });
        return z.NEVER;
      }
      if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
        ctx.addIssue({
          code: 'custom',
          message: `REDIS_URL must start with redis:// or rediss://, got "${url.protocol}//"`,
        });
        return z.NEVER;
      }
    }
    return value;
  });

/**
 * A URL as a config error may show it: everything up to its last '@' (user and password, however
 * malformed: an unencoded '/' or '@' in the password, a missing '//') masked after the scheme.
 */
function withoutCredentials(value: string): string {
  const at = value.lastIndexOf('@');
  if (at === -1) return value;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value)?.[0] ?? '';
  return `${scheme}***${value.slice(at)}`;
}

/** An email sender: local@domain, alone or in <> after a display name; one line, no spaces in the address. */
const SENDER = /^(?:[^<>\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/;

const urlList = (name: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const urls = (raw ?? '')
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean);
      for (const value of urls) {
        if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
          ctx.addIssue({
            code: 'custom',
            message: `${name} must be comma-separated http(s) URLs, got "${withoutCredentials(value)}"`,
          });
          return z.NEVER;
        }
      }
      return urls;
    });

const optionalText = (name: string, check: (value: string) => string | null) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return null;
      const problem = check(raw.trim());
      if (problem) {
        ctx.addIssue({ code: 'custom', message: `${name} ${problem}` });
        return z.NEVER;
      }
      return raw.trim();
    });

/** `*` (any origin) or comma-separated origins such as https://ops.example.com or http://127.0.0.1:3000. */
const originList = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const parts = (raw ?? '')
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
    const origins: string[] = [];
    for (const part of parts) {
      if (part === '*') {
        origins.push('*');
        continue;
      }
      const url = URL.canParse(part) ? new URL(part) : null;
      if (!url || !/^https?:$/.test(url.protocol) || url.origin !== part.replace(/\/$/, '')) {
        ctx.addIssue({
          code: 'custom',
          message: `PULSE_ALLOWED_ORIGINS must be * or comma-separated origins like https://ops.example.com (scheme, host and port only), got "${part}"`,
        });
        return z.NEVER;
      }
      origins.push(url.origin);
    }
    return origins;
  });

/** Comma-separated host names (no scheme, no port), lower-cased. */
const hostList = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const hosts = (raw ?? '')
      .split(',')
      .map((part) => part.trim().toLowerCase())
      .filter(Boolean);
    for (const host of hosts) {
      if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(host)) {
        ctx.addIssue({
          code: 'custom',
          message: `PULSE_ALLOWED_HOSTS must be comma-separated host names without scheme or port, like pulse.example.com, got "${host}"`,
        });
        return z.NEVER;
      }
    }
    return hosts;
  });

/** Comma-separated IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8). */
const proxyList = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const entries = (raw ?? '')
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
    for (const entry of entries) {
      const [address = '', bits, extra] = entry.split('/');
      const family = isIP(address);
      const maxBits = family === 6 ? 128 : 32;
      if (
        family === 0 ||
        extra !== undefined ||
        (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > maxBits))
      ) {
        ctx.addIssue({
          code: 'custom',
          message: `PULSE_TRUSTED_PROXIES must be comma-separated IP addresses or CIDR ranges like 10.0.0.0/8, got "${entry}"`,
        });
        return z.NEVER;
      }
    }
    return entries;
  });

export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;

/** Every variable Pulse reads. */
export const envSchema = z.object({
  /** Redis to use. @default redis://127.0.0.1:6379 */
  REDIS_URL: redisUrl,
  /** Interface the gateway binds. @default 0.0.0.0 */
  HOST: z
    .string()
    .optional()
    .transform((raw) => (raw?.trim() ? raw.trim() : '0.0.0.0')),
  /**
   * REDIS_URL names a Redis Cluster: its URLs are seed nodes, every process opens cluster
   * connections, and the gateways use the sharded Socket.IO adapter. @default false
   */
  REDIS_CLUSTER: flag('REDIS_CLUSTER', false),
  /** Gateway HTTP and Socket.IO port; 0 picks a free one. @default 3000 */
  PORT: wholeNumber('PORT', 0, 65535, 3000),
  /** Monitor tick interval. @default 5000 */
  PULSE_TICK_MS: wholeNumber('PULSE_TICK_MS', 100, 86_400_000, 5000),
  /** A heartbeat older than this marks its instance offline. @default 30000 */
  PULSE_INSTANCE_TTL_MS: wholeNumber('PULSE_INSTANCE_TTL_MS', 1000, 604_800_000, 30_000),
  /** An instance offline and last seen longer ago than this is removed by the tick (instance.removed); its history stays. 0: never. @default 604800000 (7 d) */
  PULSE_INSTANCE_FORGET_MS: wholeNumber('PULSE_INSTANCE_FORGET_MS', 0, 315_360_000_000, 604_800_000),
  /** How long series buckets of each step are kept, as step:duration pairs (1h also keeps instances' hours). @default 1m:48h,1h:90d,1d:730d */
  PULSE_SERIES_RETENTION: seriesRetention,
  /** Events kept per topic; older ones are trimmed (their effect stays in the projections). @default 100000 */
  PULSE_RETENTION: wholeNumber('PULSE_RETENTION', 10, 100_000_000, 100_000),
  /** How long an idempotency key is remembered. @default 86400000 (24 h) */
  PULSE_IDEMPOTENCY_WINDOW_MS: wholeNumber('PULSE_IDEMPOTENCY_WINDOW_MS', 1000, 604_800_000, 86_400_000),
  /** A topic with no ingest for this long is no longer ticked. @default 86400000 (24 h) */
  PULSE_TOPIC_IDLE_MS: wholeNumber('PULSE_TOPIC_IDLE_MS', 1000, 31_536_000_000, 86_400_000),
  /** Gateway: a socket with more unsent output than this (bytes) is disconnected; it resumes when it returns. @default 8388608 (8 MiB) */
  PULSE_SLOW_CONSUMER_BYTES: wholeNumber('PULSE_SLOW_CONSUMER_BYTES', 65_536, 1_073_741_824, 8 * 1024 * 1024),
  /**
   * Gateway: largest subscribe or replay answer (bytes of its events); a resume that missed more
   * gets the rest as event frames, under PULSE_SLOW_CONSUMER_BYTES; a replay answers fewer events. @default 1048576 (1 MiB)
   */
  PULSE_MAX_ACK_BYTES: wholeNumber('PULSE_MAX_ACK_BYTES', 16_384, 268_435_456, 1_048_576),
  /** Worker: run the simulated demo fleet. @default false (npm start turns it on) */
  PULSE_DEMO: flag('PULSE_DEMO', false),
  /** Worker: gateways the demo fleet posts to, comma-separated; it fails over in order. @default http://127.0.0.1:3000 */
  PULSE_DEMO_URLS: urlList('PULSE_DEMO_URLS').transform((urls) => (urls.length ? urls : ['http://127.0.0.1:3000'])),
  /**
   * On SIGTERM a gateway closes its sockets spread over this long, so that their clients move to
   * other gateways in waves rather than all at once. @default 2000
   */
  PULSE_DRAIN_MS: wholeNumber('PULSE_DRAIN_MS', 0, 600_000, 2000),
  /** On SIGTERM a process that has not finished shutting down after this long exits anyway (code 1). @default 15000 */
  PULSE_SHUTDOWN_TIMEOUT_MS: wholeNumber('PULSE_SHUTDOWN_TIMEOUT_MS', 3000, 600_000, 15_000),
  /** `production` makes auth mandatory (a process refuses to start without PULSE_AUTH_SECRET or PULSE_AUTH_PUBLIC_KEY). */
  NODE_ENV: z
    .string()
    .optional()
    .transform((raw) => raw?.trim() ?? ''),
  /** HS256 secret that signs and checks access tokens; set, auth is on. At least 32 characters. @default unset: auth off */
  PULSE_AUTH_SECRET: optionalText('PULSE_AUTH_SECRET', (value) =>
    value.length < 32 ? `must be at least 32 characters (HS256 wants 256 bits), got ${value.length}` : null,
  ),
  /** Public key (PEM, SPKI) that checks tokens signed with an asymmetric key, instead of the secret. @default unset */
  PULSE_AUTH_PUBLIC_KEY: optionalText('PULSE_AUTH_PUBLIC_KEY', (value) =>
    value.includes('-----BEGIN PUBLIC KEY-----') ? null : 'must be a PEM public key (-----BEGIN PUBLIC KEY-----…)',
  ),
  /** Algorithm of PULSE_AUTH_PUBLIC_KEY. @default RS256 */
  PULSE_AUTH_ALG: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw?.trim() ? raw.trim() : 'RS256';
      if (!(ASYMMETRIC_ALGS as readonly string[]).includes(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `PULSE_AUTH_ALG must be one of ${ASYMMETRIC_ALGS.join(', ')}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value as AsymmetricAlg;
    }),
  /** Browser origins allowed to open sockets and call the REST API (CORS), besides the gateway's own. @default none: same origin only */
  PULSE_ALLOWED_ORIGINS: originList,
  /** Requests per window per token (REST and socket, with auth on), counted across all gateways (Redis). @default 1000 */
  PULSE_RATE_LIMIT_TOKEN: wholeNumber('PULSE_RATE_LIMIT_TOKEN', 1, 1_000_000, 1000),
  /** Socket requests per window per connection (a reconnecting client re-subscribes to all its topics at once). @default 200 */
  PULSE_RATE_LIMIT_CONNECTION: wholeNumber('PULSE_RATE_LIMIT_CONNECTION', 1, 1_000_000, 200),
  /** The rate limits' window, in seconds. @default 1 */
  PULSE_RATE_LIMIT_WINDOW_S: wholeNumber('PULSE_RATE_LIMIT_WINDOW_S', 1, 3600, 1),
  /** A resume or replay costs one more rate-limit point per this many events it reads (on top of its one). @default 100 */
  PULSE_RATE_LIMIT_EVENTS_PER_POINT: wholeNumber('PULSE_RATE_LIMIT_EVENTS_PER_POINT', 1, 1_000_000, 100),
  /** Topics one socket may follow at once. @default 100 */
  PULSE_MAX_SUBSCRIPTIONS: wholeNumber('PULSE_MAX_SUBSCRIPTIONS', 1, 100_000, 100),
  /** Open sockets per token, across all gateways. @default 20 */
  PULSE_MAX_CONNECTIONS_PER_TOKEN: wholeNumber('PULSE_MAX_CONNECTIONS_PER_TOKEN', 1, 1_000_000, 20),
  /** Largest REST request body (bytes). @default 1048576 */
  PULSE_MAX_BODY_BYTES: wholeNumber('PULSE_MAX_BODY_BYTES', 1024, 100 * 1024 * 1024, 1024 * 1024),
  /** BullMQ key prefix of Pulse's queues; its {hash tag} keeps them in one Redis Cluster slot. @default {pulse} */
  PULSE_QUEUE_PREFIX: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw?.trim() ? raw.trim() : '{pulse}';
      if (!/^[^\s{}]*\{[^\s{}]+\}[^\s{}]*$/.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `PULSE_QUEUE_PREFIX must contain one {hash tag} and no spaces, e.g. {pulse} or app:{pulse}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value;
    }),
  /** Completed monitor-tick jobs kept for inspection. @default 1000 */
  PULSE_JOBS_KEEP_COMPLETED: wholeNumber('PULSE_JOBS_KEEP_COMPLETED', 0, 1_000_000, 1000),
  /** Failed monitor-tick jobs kept for inspection. @default 5000 */
  PULSE_JOBS_KEEP_FAILED: wholeNumber('PULSE_JOBS_KEEP_FAILED', 0, 1_000_000, 5000),
  // Bounded under abuse (issue 15): hosts, proxies, page sizes, tick times.
  /**
   * The gateway's public URLs (what browsers type, e.g. https://pulse.example.com behind nginx),
   * comma-separated: pages of these origins are its own, and with auth off their host names are
   * accepted in Host. @default none: loopback and IP-literal hosts only
   */
  PULSE_PUBLIC_URL: urlList('PULSE_PUBLIC_URL'),
  // Alert notifications (issue 13).
  /** SMTP server of email channels, e.g. smtp://user:pass@mail.example.com:587 (smtps:// for TLS). @default none: email channels fail with a reason */
  PULSE_SMTP_URL: optionalText('PULSE_SMTP_URL', (value) =>
    URL.canParse(value) && /^smtps?:$/.test(new URL(value).protocol)
      ? null
      : `must be an smtp:// or smtps:// URL (a password with / : @ # or % percent-encoded), got "${withoutCredentials(value)}"`,
  ),
  /** The From of alert emails: an address, or a name and <address>. @default Pulse <pulse@localhost> */
  PULSE_SMTP_FROM: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw?.trim() ? raw.trim() : 'Pulse <pulse@localhost>';
      // Found at start, not as a day of failing email tries (SMTP servers refuse a bad sender).
      if (!SENDER.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `PULSE_SMTP_FROM must be an address like alerts@example.com or "Pulse <alerts@example.com>", got "${value}"`,
        });
        return z.NEVER;
      }
      return value;
    }),
  /** First retry delay of a failed notification (ms); it doubles up to 1 h, and retries go on for PULSE_NOTIFY_MAX_AGE_MS. @default 1000 */
  PULSE_NOTIFY_BACKOFF_MS: wholeNumber('PULSE_NOTIFY_BACKOFF_MS', 10, 3_600_000, 1000),
  /** How long a notification is retried before it stays failed (retryable in Bull Board). @default 86400000 (24 h) */
  PULSE_NOTIFY_MAX_AGE_MS: wholeNumber('PULSE_NOTIFY_MAX_AGE_MS', 1000, 604_800_000, 86_400_000),
  /** Further host names (no port) accepted in Host while auth is off, besides loopback, IP literals and PULSE_PUBLIC_URL. @default none */
  PULSE_ALLOWED_HOSTS: hostList,
  /** Proxies (IP addresses or CIDR ranges, comma-separated) whose X-Forwarded-Host is believed. @default none: X-Forwarded-* ignored */
  PULSE_TRUSTED_PROXIES: proxyList,
  /** Most topics one page of GET /api/v1/topics may hold (`?limit`, default 100 or this if lower). @default 1000 */
  PULSE_TOPICS_PAGE_MAX: wholeNumber('PULSE_TOPICS_PAGE_MAX', 1, 100_000, 1000),
  /**
   * Gateway: also serve GET /metrics without a token on this port (for Prometheus inside a
   * private network; keep the port off the public one). @default unset: /metrics on PORT only, with a metrics or admin token
   */
  PULSE_METRICS_PORT: wholeNumber('PULSE_METRICS_PORT', 1, 65535, 0).transform((port) => (port === 0 ? null : port)),
  /** Worker: a monitor-tick job whose tickAt is older than this fails (a job written by hand or left over). @default 86400000 (1 day) */
  PULSE_TICK_MAX_AGE_MS: wholeNumber('PULSE_TICK_MAX_AGE_MS', 1000, 31_536_000_000, 86_400_000),
  /** Worker: a monitor-tick job whose tickAt is further ahead than this fails (it would make later ticks skip). @default 60000 */
  PULSE_TICK_MAX_AHEAD_MS: wholeNumber('PULSE_TICK_MAX_AHEAD_MS', 0, 86_400_000, 60_000),
  // ---- cardinality: what one publisher can make Pulse keep and tick ----
  /** Most instances one topic holds: a heartbeat or attempt for a new one past it is refused (400), nothing of its batch appended. @default 10000 */
  PULSE_MAX_INSTANCES_PER_TOPIC: wholeNumber('PULSE_MAX_INSTANCES_PER_TOPIC', 1, 1_000_000, 10_000),
  /** Most rules one topic holds (each evaluated at every tick, an instance rule over every instance): a PUT of one more is refused (400). @default 100 */
  PULSE_MAX_RULES_PER_TOPIC: wholeNumber('PULSE_MAX_RULES_PER_TOPIC', 1, 10_000, 100),
  /** Largest `meta` of one heartbeat, in bytes of JSON (the instance keeps the last one): past it, 400. @default 4096 */
  PULSE_MAX_META_BYTES: wholeNumber('PULSE_MAX_META_BYTES', 2, 65_536, 4096),
  /** Worker: every Nth tick's instances_update carries the whole table; the others only the instances changed since the previous one. 1: always whole. @default 60 */
  PULSE_INSTANCES_FULL_EVERY: wholeNumber('PULSE_INSTANCES_FULL_EVERY', 1, 1_000_000, 60),
  /** Most topics in all: an append that would create one more is refused (400). @default 10000 */
  PULSE_MAX_TOPICS: wholeNumber('PULSE_MAX_TOPICS', 1, 10_000_000, 10_000),
  /** Topics one token (its sub) may create per PULSE_TOPIC_QUOTA_WINDOW_S (auth on only); past it, 429. 0: no quota. @default 100 */
  PULSE_TOPIC_QUOTA: wholeNumber('PULSE_TOPIC_QUOTA', 0, 10_000_000, 100),
  /** The window of PULSE_TOPIC_QUOTA, in seconds. @default 3600 */
  PULSE_TOPIC_QUOTA_WINDOW_S: wholeNumber('PULSE_TOPIC_QUOTA_WINDOW_S', 1, 31_536_000, 3600),
  /** Logger level. @default log */
  LOG_LEVEL: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw?.trim() ? raw.trim().toLowerCase() : 'log';
      if (!(LOG_LEVELS as readonly string[]).includes(value)) {
        ctx.addIssue({ code: 'custom', message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"` });
        return z.NEVER;
      }
      return value as (typeof LOG_LEVELS)[number];
    }),
});

/** Key types each PULSE_AUTH_ALG checks tokens with. */
const KEY_TYPES: Record<AsymmetricAlg, string[]> = { RS256: ['rsa'], ES256: ['ec'], EdDSA: ['ed25519', 'ed448'] };

/** Why a PEM cannot check tokens of `alg` (unreadable, or a key of another type), or null. */
function publicKeyProblem(pem: string, alg: AsymmetricAlg): string | null {
  let type: string | undefined;
  try {
    type = createPublicKey(pem).asymmetricKeyType;
  } catch (error) {
    return `cannot be read as a public key (${(error as Error).message})`;
  }
  return type !== undefined && KEY_TYPES[alg].includes(type)
    ? null
    : `is a ${type ?? 'unknown'} key, which cannot check ${alg} tokens (PULSE_AUTH_ALG)`;
}

/** Every variable Pulse reads, with the rules that tie several together. */
export const configSchema = envSchema.superRefine((config, ctx) => {
  if (config.NODE_ENV.toLowerCase() === 'production' && !config.PULSE_AUTH_SECRET && !config.PULSE_AUTH_PUBLIC_KEY) {
    ctx.addIssue({
      code: 'custom',
      message:
        'PULSE_AUTH_SECRET (or PULSE_AUTH_PUBLIC_KEY) must be set when NODE_ENV=production: a production gateway never runs without auth',
    });
  }
  if (config.PULSE_AUTH_PUBLIC_KEY) {
    const problem = publicKeyProblem(config.PULSE_AUTH_PUBLIC_KEY, config.PULSE_AUTH_ALG);
    if (problem)
      ctx.addIssue({ code: 'custom', path: ['PULSE_AUTH_PUBLIC_KEY'], message: `PULSE_AUTH_PUBLIC_KEY ${problem}` });
  }
  if (config.PULSE_AUTH_SECRET && config.PULSE_AUTH_PUBLIC_KEY) {
    ctx.addIssue({
      code: 'custom',
      message: 'PULSE_AUTH_SECRET and PULSE_AUTH_PUBLIC_KEY are both set: choose one way to check tokens',
    });
  }
  if (!config.REDIS_CLUSTER && config.REDIS_URL.includes(',')) {
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_URL'],
      message:
        'REDIS_URL names several servers: set REDIS_CLUSTER=1 if they are seed nodes of a Redis Cluster, or give one URL',
    });
  }
  // The drain, then 3 s for requests in flight and for closing the servers and Redis.
  if (config.PULSE_DRAIN_MS + 3000 > config.PULSE_SHUTDOWN_TIMEOUT_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['PULSE_DRAIN_MS'],
      message: `PULSE_SHUTDOWN_TIMEOUT_MS (${config.PULSE_SHUTDOWN_TIMEOUT_MS}) must leave 3000 ms after PULSE_DRAIN_MS (${config.PULSE_DRAIN_MS}) for requests in flight and closing`,
    });
  }
});

/** The validated configuration every Pulse process receives. */
export type PulseConfig = z.output<typeof envSchema>;

/** What the `pulse` command reads from its environment. */
export const cliEnvSchema = z.object({
  /** Token sent by every command when --token is not given. */
  PULSE_TOKEN: z
    .string()
    .optional()
    .transform((raw) => (raw?.trim() ? raw.trim() : undefined)),
  /** `pulse token` signs with it (HS256). */
  PULSE_AUTH_SECRET: z
    .string()
    .optional()
    .transform((raw) => (raw?.trim() ? raw.trim() : undefined)),
  /** `pulse token` signs with it instead (PEM, PKCS#8), with PULSE_AUTH_ALG. */
  PULSE_AUTH_PRIVATE_KEY: z
    .string()
    .optional()
    .transform((raw) => (raw?.trim() ? raw.trim() : undefined)),
  PULSE_AUTH_ALG: z.enum(ASYMMETRIC_ALGS).optional(),
});
export type CliEnv = z.output<typeof cliEnvSchema>;

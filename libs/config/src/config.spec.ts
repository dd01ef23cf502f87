// The env contract: defaults, accepted spellings, and one ConfigError naming every bad variable.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { authEnabled, ConfigError, maskPasswords, parseConfig, readCliEnv } from './config.js';

/** The ConfigError that `env` produces (fails the test if it parses). */
function problemsOf(env: Record<string, string | undefined>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be rejected, but it parsed`);
}

describe('parseConfig', () => {
  it('gives every variable its documented default', () => {
    expect(parseConfig({})).toEqual({
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_CLUSTER: false,
      HOST: '0.0.0.0',
      PORT: 3000,
      PULSE_TICK_MS: 5000,
      PULSE_INSTANCE_TTL_MS: 30_000,
      PULSE_INSTANCE_FORGET_MS: 604_800_000,
      PULSE_SERIES_RETENTION: { '1m': 48 * 3_600_000, '1h': 90 * 86_400_000, '1d': 730 * 86_400_000 },
      PULSE_RETENTION: 100_000,
      PULSE_IDEMPOTENCY_WINDOW_MS: 86_400_000,
      PULSE_TOPIC_IDLE_MS: 86_400_000,
      PULSE_SLOW_CONSUMER_BYTES: 8 * 1024 * 1024,
      PULSE_MAX_ACK_BYTES: 1_048_576,
      PULSE_DEMO: false,
      PULSE_DEMO_URLS: ['http://127.0.0.1:3000'],
      PULSE_DRAIN_MS: 2000,
      PULSE_SHUTDOWN_TIMEOUT_MS: 15_000,
      LOG_LEVEL: 'log',
      NODE_ENV: '',
      PULSE_AUTH_SECRET: null,
      PULSE_AUTH_PUBLIC_KEY: null,
      PULSE_AUTH_ALG: 'RS256',
      PULSE_ALLOWED_ORIGINS: [],
      PULSE_RATE_LIMIT_TOKEN: 1000,
      PULSE_RATE_LIMIT_CONNECTION: 200,
      PULSE_RATE_LIMIT_WINDOW_S: 1,
      PULSE_RATE_LIMIT_EVENTS_PER_POINT: 100,
      PULSE_MAX_SUBSCRIPTIONS: 100,
      PULSE_MAX_CONNECTIONS_PER_TOKEN: 20,
      PULSE_MAX_BODY_BYTES: 1_048_576,
      PULSE_QUEUE_PREFIX: '{pulse}',
      PULSE_JOBS_KEEP_COMPLETED: 1000,
      PULSE_JOBS_KEEP_FAILED: 5000,
      PULSE_PUBLIC_URL: [],
      PULSE_SMTP_URL: null,
      PULSE_SMTP_FROM: 'Pulse <pulse@localhost>',
      PULSE_NOTIFY_BACKOFF_MS: 1000,
      PULSE_NOTIFY_MAX_AGE_MS: 86_400_000,
      PULSE_ALLOWED_HOSTS: [],
      PULSE_TRUSTED_PROXIES: [],
      PULSE_TOPICS_PAGE_MAX: 1000,
      PULSE_TICK_MAX_AGE_MS: 86_400_000,
      PULSE_TICK_MAX_AHEAD_MS: 60_000,
      PULSE_METRICS_PORT: null,
      PULSE_MAX_INSTANCES_PER_TOPIC: 10_000,
      PULSE_MAX_RULES_PER_TOPIC: 100,
      PULSE_MAX_META_BYTES: 4096,
      PULSE_INSTANCES_FULL_EVERY: 60,
      PULSE_MAX_TOPICS: 10_000,
      PULSE_TOPIC_QUOTA: 100,
      PULSE_TOPIC_QUOTA_WINDOW_S: 3600,
    });
  });

  it('refuses cardinality limits out of range, naming each variable', () => {
    expect(() =>
      parseConfig({
        PULSE_MAX_INSTANCES_PER_TOPIC: '0',
        PULSE_INSTANCES_FULL_EVERY: '0',
        PULSE_MAX_META_BYTES: 'lots',
      }),
    ).toThrow(
      /PULSE_MAX_INSTANCES_PER_TOPIC[\s\S]*PULSE_MAX_META_BYTES|PULSE_MAX_META_BYTES[\s\S]*PULSE_MAX_INSTANCES_PER_TOPIC/,
    );
    expect(() => parseConfig({ PULSE_INSTANCES_FULL_EVERY: '0' })).toThrow(/PULSE_INSTANCES_FULL_EVERY/);
    expect(parseConfig({ PULSE_TOPIC_QUOTA: '0' }).PULSE_TOPIC_QUOTA).toBe(0);
  });

  it('treats empty and blank values as unset', () => {
    const blank = {
      REDIS_URL: '',
      PORT: ' ',
      PULSE_TICK_MS: '',
      PULSE_DEMO: '  ',
      PULSE_DEMO_URLS: ' , ',
      LOG_LEVEL: '',
    };
    expect(parseConfig(blank)).toEqual(parseConfig({}));
  });

  it('accepts valid values, trimmed, with case-insensitive flags and levels', () => {
    const config = parseConfig({
      REDIS_URL: ' rediss://user:pw@redis.example:6380/2 ',
      HOST: ' 127.0.0.1 ',
      PORT: ' 0 ',
      PULSE_TICK_MS: '100',
      PULSE_RETENTION: '10',
      PULSE_DEMO: 'YES',
      PULSE_DEMO_URLS: 'http://127.0.0.1:3000, https://pulse.example',
      LOG_LEVEL: 'WARN',
    });
    expect(config).toMatchObject({
      REDIS_URL: 'rediss://user:pw@redis.example:6380/2',
      HOST: '127.0.0.1',
      PORT: 0,
      PULSE_TICK_MS: 100,
      PULSE_RETENTION: 10,
      PULSE_DEMO: true,
      PULSE_DEMO_URLS: ['http://127.0.0.1:3000', 'https://pulse.example'],
      LOG_LEVEL: 'warn',
    });
    expect(parseConfig({ PORT: '65535', PULSE_DEMO: 'off' })).toMatchObject({ PORT: 65535, PULSE_DEMO: false });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['PULSE_TICK_MS', '0'],
    ['PULSE_TICK_MS', '99'],
    ['PULSE_TICK_MS', '1.5'],
    ['PULSE_TICK_MS', '1e3'],
    ['REDIS_URL', 'http://x'],
    ['REDIS_URL', 'not a url'],
    ['PULSE_DEMO', 'maybe'],
    ['LOG_LEVEL', 'loud'],
    ['PULSE_RETENTION', '-5'],
    ['PULSE_RETENTION', '9'],
    ['PULSE_INSTANCE_TTL_MS', 'soon'],
    ['PULSE_DEMO_URLS', 'ftp://x'],
    ['PULSE_DEMO_URLS', 'http://ok:3000,not a url'],
    ['PULSE_AUTH_SECRET', 'too-short'],
    ['PULSE_AUTH_PUBLIC_KEY', 'not a pem'],
    ['PULSE_AUTH_ALG', 'HS512'],
    ['PULSE_ALLOWED_ORIGINS', 'https://ok.example/path'],
    ['PULSE_ALLOWED_ORIGINS', 'ftp://files.example'],
    ['PULSE_RATE_LIMIT_TOKEN', '0'],
    ['PULSE_QUEUE_PREFIX', 'no-hash-tag'],
    ['PULSE_QUEUE_PREFIX', '{a}{b}'],
    ['PULSE_JOBS_KEEP_FAILED', '-1'],
    ['PULSE_INSTANCE_FORGET_MS', '7d'],
    ['PULSE_SERIES_RETENTION', '1m:48h,5m:1d'],
    ['PULSE_SERIES_RETENTION', '1h:forever'],
    ['PULSE_SERIES_RETENTION', '1m:30s'],
    ['PULSE_SMTP_URL', 'http://mail.example'],
    ['PULSE_NOTIFY_BACKOFF_MS', '1'],
    ['PULSE_SMTP_FROM', 'Pulse alerts'],
    ['PULSE_SMTP_FROM', 'Pulse <alerts at example.com>'],
    ['PULSE_SMTP_FROM', 'alerts@example.com\r\nBcc: x@evil.example'],
  ])('rejects %s=%j, naming the variable', (name, value) => {
    const error = problemsOf({ [name]: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain(name);
    expect(error.message).toContain('Invalid configuration (1 problem)');
    expect(error.message).toContain(name);
  });

  it.each([
    ['PULSE_SMTP_URL', 'smtps://alerts:pa/ss-S3CRET@mail.example.com:465', 'smtps://***@mail.example.com:465'],
    ['PULSE_SMTP_URL', 'alerts:S3CRET@mail.example.com:587', '***@mail.example.com:587'],
    ['PULSE_SMTP_URL', 'smtp//alerts:S3CRET@mail.example.com', '***@mail.example.com'],
    ['PULSE_SMTP_URL', 'smtpx://alerts:S3C@RET@mail.example.com', 'smtpx://***@mail.example.com'],
    ['REDIS_URL', 'redis://:S3C/RET@cache.example:6379', 'redis://***@cache.example:6379'],
    ['PULSE_DEMO_URLS', 'http://user:S3CRET@ok:3000,ftp://u:S3CRET@x', 'ftp://***@x'],
  ])('never prints the password of a refused %s (%s)', (name, value, shown) => {
    const error = problemsOf({ [name]: value });
    expect(error.message).not.toContain('S3C');
    expect(error.problems[0]).toContain(`got "${shown}"`);
  });

  it('takes PULSE_SMTP_FROM as an address, or a name and <address>', () => {
    for (const from of ['alerts@example.com', 'Pulse <alerts@example.com>', '"Ops, EU" <ops@mail.example>'])
      expect(parseConfig({ PULSE_SMTP_FROM: from }).PULSE_SMTP_FROM).toBe(from);
    expect(parseConfig({}).PULSE_SMTP_FROM).toBe('Pulse <pulse@localhost>');
  });

  it('reads PULSE_SERIES_RETENTION per step, keeping the default for a step it does not name', () => {
    expect(parseConfig({ PULSE_SERIES_RETENTION: '1m:6h, 1d:3650d' }).PULSE_SERIES_RETENTION).toEqual({
      '1m': 6 * 3_600_000,
      '1h': 90 * 86_400_000,
      '1d': 3650 * 86_400_000,
    });
    expect(problemsOf({ PULSE_SERIES_RETENTION: '5m:1d' }).problems).toEqual([
      expect.stringContaining('"5m:1d" is not <step>:<duration> with step 1m, 1h or 1d'),
    ]);
  });

  it('takes several REDIS_URLs only as the seed nodes of a cluster', () => {
    const seeds = 'redis://127.0.0.1:7000, redis://127.0.0.1:7001';
    expect(parseConfig({ REDIS_URL: seeds, REDIS_CLUSTER: '1' })).toMatchObject({
      REDIS_URL: seeds,
      REDIS_CLUSTER: true,
    });
    expect(problemsOf({ REDIS_URL: seeds }).problems).toEqual([expect.stringContaining('set REDIS_CLUSTER=1')]);
    expect(problemsOf({ REDIS_URL: 'redis://127.0.0.1:7000,http://x', REDIS_CLUSTER: '1' }).problems).toEqual([
      expect.stringContaining('must start with redis://'),
    ]);
  });

  it('wants the drain to fit in the shutdown bound', () => {
    expect(parseConfig({ PULSE_DRAIN_MS: '0', PULSE_SHUTDOWN_TIMEOUT_MS: '3000' })).toMatchObject({
      PULSE_DRAIN_MS: 0,
      PULSE_SHUTDOWN_TIMEOUT_MS: 3000,
    });
    expect(parseConfig({ PULSE_DRAIN_MS: '2000', PULSE_SHUTDOWN_TIMEOUT_MS: '5000' })).toMatchObject({
      PULSE_DRAIN_MS: 2000,
    });
    expect(problemsOf({ PULSE_DRAIN_MS: '2001', PULSE_SHUTDOWN_TIMEOUT_MS: '5000' }).problems).toEqual([
      expect.stringContaining('PULSE_SHUTDOWN_TIMEOUT_MS (5000) must leave 3000 ms after PULSE_DRAIN_MS (2001)'),
    ]);
  });

  it('lists every bad variable in one ConfigError, not just the first', () => {
    const bad = {
      PORT: 'abc',
      PULSE_TICK_MS: '0',
      REDIS_URL: 'http://x',
      PULSE_DEMO: 'maybe',
      LOG_LEVEL: 'loud',
      PULSE_RETENTION: '-5',
      PULSE_DEMO_URLS: 'ftp://x',
    };
    const error = problemsOf({ ...bad, HOST: '127.0.0.1', PULSE_INSTANCE_TTL_MS: '30000' });
    expect(error.problems).toHaveLength(Object.keys(bad).length);
    expect(error.message).toContain(`Invalid configuration (${Object.keys(bad).length} problems)`);
    for (const name of Object.keys(bad)) {
      expect(error.problems.filter((problem) => problem.startsWith(`${name} `))).toHaveLength(1);
      expect(error.message).toContain(`  - ${name} `);
    }
    // The offending values are shown, so the reader does not have to go looking for them.
    expect(error.message).toContain('"abc"');
    expect(error.message).toContain('"loud"');
    expect(error.message).toContain('"ftp://x"');
  });
});

describe('auth and origins', () => {
  const secret = 's'.repeat(32);

  it('refuses NODE_ENV=production without a key to check tokens, naming PULSE_AUTH_SECRET', () => {
    const error = problemsOf({ NODE_ENV: 'production' });
    expect(error.problems).toEqual([expect.stringContaining('PULSE_AUTH_SECRET')]);
    expect(parseConfig({ NODE_ENV: 'production', PULSE_AUTH_SECRET: secret })).toMatchObject({
      PULSE_AUTH_SECRET: secret,
    });
    expect(authEnabled(parseConfig({}))).toBe(false);
    expect(authEnabled(parseConfig({ PULSE_AUTH_SECRET: secret }))).toBe(true);
  });

  it('refuses a secret and a public key together', () => {
    const publicKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    expect(problemsOf({ PULSE_AUTH_SECRET: secret, PULSE_AUTH_PUBLIC_KEY: publicKey }).problems).toEqual([
      expect.stringContaining('both set'),
    ]);
  });

  it('refuses a public key it cannot read, or one of another type than PULSE_AUTH_ALG, naming PULSE_AUTH_PUBLIC_KEY', () => {
    const truncated = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----';
    expect(problemsOf({ PULSE_AUTH_PUBLIC_KEY: truncated }).problems).toEqual([
      expect.stringMatching(/^PULSE_AUTH_PUBLIC_KEY cannot be read/),
    ]);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    expect(problemsOf({ PULSE_AUTH_PUBLIC_KEY: ec }).problems).toEqual([expect.stringContaining('PULSE_AUTH_ALG')]);
    expect(parseConfig({ PULSE_AUTH_PUBLIC_KEY: ec, PULSE_AUTH_ALG: 'ES256' })).toMatchObject({
      PULSE_AUTH_ALG: 'ES256',
    });
  });

  it('takes NODE_ENV=Production as production, whatever its case', () => {
    expect(problemsOf({ NODE_ENV: 'Production' }).problems).toEqual([expect.stringContaining('PULSE_AUTH_SECRET')]);
  });

  it('reads origins as a list of origins, trailing slashes dropped, * kept', () => {
    expect(
      parseConfig({ PULSE_ALLOWED_ORIGINS: 'https://ops.example, http://127.0.0.1:3001/' }).PULSE_ALLOWED_ORIGINS,
    ).toEqual(['https://ops.example', 'http://127.0.0.1:3001']);
    expect(parseConfig({ PULSE_ALLOWED_ORIGINS: '*' }).PULSE_ALLOWED_ORIGINS).toEqual(['*']);
  });
});

describe('hosts and proxies', () => {
  it('reads public URLs, host names and proxy addresses, and names a wrong one', () => {
    expect(
      parseConfig({
        PULSE_PUBLIC_URL: 'https://pulse.example',
        PULSE_ALLOWED_HOSTS: 'Pulse.Example, ops.internal',
        PULSE_TRUSTED_PROXIES: '10.0.0.0/8, ::1, 192.168.1.7',
      }),
    ).toMatchObject({
      PULSE_PUBLIC_URL: ['https://pulse.example'],
      PULSE_ALLOWED_HOSTS: ['pulse.example', 'ops.internal'],
      PULSE_TRUSTED_PROXIES: ['10.0.0.0/8', '::1', '192.168.1.7'],
    });
    expect(problemsOf({ PULSE_ALLOWED_HOSTS: 'pulse.example:8080' }).problems).toEqual([
      expect.stringContaining('PULSE_ALLOWED_HOSTS must be comma-separated host names'),
    ]);
    expect(problemsOf({ PULSE_TRUSTED_PROXIES: 'nginx' }).problems).toEqual([
      expect.stringContaining('PULSE_TRUSTED_PROXIES must be comma-separated IP addresses or CIDR ranges'),
    ]);
    expect(problemsOf({ PULSE_TRUSTED_PROXIES: '10.0.0.0/33' }).problems).toEqual([
      expect.stringContaining('"10.0.0.0/33"'),
    ]);
    expect(parseConfig({ PULSE_METRICS_PORT: '9464' }).PULSE_METRICS_PORT).toBe(9464);
    expect(problemsOf({ PULSE_METRICS_PORT: '0' }).problems).toEqual([
      expect.stringContaining('PULSE_METRICS_PORT must be a whole number from 1 to 65535'),
    ]);
  });
});

describe('maskPasswords', () => {
  it('hides the password of every URL, and keeps the rest', () => {
    expect(maskPasswords('redis://pulse:s3cret@redis:6379')).toBe('redis://pulse:***@redis:6379');
    expect(maskPasswords('redis://:s3cret@a:1,redis://b:2')).toBe('redis://:***@a:1,redis://b:2');
    expect(maskPasswords('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(maskPasswords('not a url //user:pw@host')).not.toContain('pw');
  });
});

describe('readCliEnv', () => {
  it('reads PULSE_TOKEN and the signing key, trimmed, blank as unset', () => {
    expect(readCliEnv({ PULSE_TOKEN: ' t ', PULSE_AUTH_SECRET: '' })).toMatchObject({
      PULSE_TOKEN: 't',
      PULSE_AUTH_SECRET: undefined,
    });
  });
});

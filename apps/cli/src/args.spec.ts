// The pulse command line: each command's arguments, the global flags, and a UsageError naming what is wrong.
import { describe, expect, it } from '@jest/globals';
import { DEFAULT_URL, GENERAL_USAGE, parseCommandLine, parseJsonArgument, usageOf } from './args.js';
import { UsageError } from './errors.js';

/** The UsageError that `argv` produces (fails the test if it parses). */
function usageErrorOf(argv: string[]): UsageError {
  try {
    parseCommandLine(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be refused, but it parsed`);
}

describe('parseCommandLine', () => {
  it('parses tail with its flags, the gateway list in order, and the token', () => {
    expect(
      parseCommandLine([
        'tail',
        'demo',
        '--since',
        '42',
        '--type',
        'attempt.recorded',
        '--type',
        'status_update',
        '--json',
        '--url',
        'http://a:1/',
        '--url',
        'https://b',
        '--token',
        't0k',
      ]),
    ).toEqual({
      command: { name: 'tail', topic: 'demo', since: 42, types: ['attempt.recorded', 'status_update'], json: true },
      urls: ['http://a:1', 'https://b'],
      token: 't0k',
    });
  });

  it('defaults to one local gateway, no token, following from now', () => {
    expect(parseCommandLine(['tail', 'demo'])).toEqual({
      command: { name: 'tail', topic: 'demo', since: null, types: [], json: false },
      urls: [DEFAULT_URL],
    });
  });

  it('accepts flags before the command', () => {
    expect(parseCommandLine(['--url', 'http://x:9', 'topics']).urls).toEqual(['http://x:9']);
  });

  it('parses publish data as JSON, with its source and idempotency key', () => {
    expect(
      parseCommandLine([
        'publish',
        'demo',
        'attempt.recorded',
        '{"instanceId":"i-1","outcome":"success"}',
        '--source',
        'cli',
        '--key',
        'k-1',
      ]).command,
    ).toEqual({
      name: 'publish',
      topic: 'demo',
      type: 'attempt.recorded',
      data: { instanceId: 'i-1', outcome: 'success' },
      source: 'cli',
      key: 'k-1',
      json: false,
    });
  });

  it('parses rebuild, snapshot, topics and status', () => {
    expect(parseCommandLine(['rebuild', 'demo', '--apply']).command).toEqual({
      name: 'rebuild',
      topic: 'demo',
      apply: true,
      json: false,
    });
    expect(parseCommandLine(['snapshot', 'demo', '--json']).command).toEqual({
      name: 'snapshot',
      topic: 'demo',
      json: true,
    });
    expect(parseCommandLine(['topics']).command).toEqual({ name: 'topics', json: false });
    expect(parseCommandLine(['status', '--json']).command).toEqual({ name: 'status', json: true });
  });

  it('answers --help and help with the general or the command usage', () => {
    expect(parseCommandLine(['--help']).command).toEqual({ name: 'help' });
    expect(parseCommandLine(['-h']).command).toEqual({ name: 'help' });
    expect(parseCommandLine(['help']).command).toEqual({ name: 'help' });
    expect(parseCommandLine(['help', 'rebuild']).command).toEqual({ name: 'help', command: 'rebuild' });
    // --help wins over missing arguments: `pulse tail --help` is how one learns what tail needs.
    expect(parseCommandLine(['tail', '--help']).command).toEqual({ name: 'help', command: 'tail' });
  });

  it.each([
    [[], 'no command given', undefined],
    [['bogus'], 'unknown command "bogus"', undefined],
    [['help', 'bogus'], 'unknown command "bogus"', undefined],
    [['tail'], 'tail needs <topic>', 'tail'],
    [['publish', 'demo'], 'publish needs <type> <json>', 'publish'],
    [['topics', 'extra'], 'unexpected "extra"', 'topics'],
    [['tail', 'demo', '--since', 'abc'], '--since must be a whole number >= 0 (a seq of the topic), got "abc"', 'tail'],
    [['tail', 'demo', '--since', '1.5'], 'got "1.5"', 'tail'],
    [['tail', 'demo', '--since', ''], 'got ""', 'tail'],
    [['tail', 'demo', '--type', 'nope'], '--type nope is not an event type', 'tail'],
    [['tail', 'Demo!'], '"Demo!" is not a topic name', 'tail'],
    [['topics', '--apply'], 'topics does not take --apply', 'topics'],
    [['tail', 'demo', '--frobnicate'], "Unknown option '--frobnicate'", 'tail'],
    [['tail', 'demo', '--since'], "Option '--since <value>' argument missing", 'tail'],
    [['topics', '--url', 'localhost:3000'], '--url must start with http:// or https://', undefined],
    [['topics', '--url', 'not a url'], '--url must be a gateway URL', undefined],
    [
      ['topics', '--url', 'http://u:secret@x:9'],
      '--url must not hold a user name or password (give a token with --token or PULSE_TOKEN), got "http://u:***@x:9/"',
      undefined,
    ],
    [['topics', '--token', 'a\nb'], '--token must be a token as pulse token prints it', undefined],
    [['topics', '--token', 'a b'], 'character 2 is U+0020', undefined],
    [['topics', '--token', ''], '--token is empty', undefined],
  ] as [string[], string, string | undefined][])('refuses %j: %s', (argv, message, command) => {
    const error = usageErrorOf(argv);
    expect(error.message).toContain(message);
    expect(error.command).toBe(command);
  });

  it('names the position of invalid publish JSON and points at it', () => {
    const error = usageErrorOf(['publish', 't', 'x', '{bad']);
    expect(error.message).toContain('<json> (the third argument) is not valid JSON at position 1');
    expect(error.message).toContain('\n  {bad\n   ^');
    expect(error.command).toBe('publish');
  });
});

describe('parseJsonArgument', () => {
  it('parses valid JSON', () => {
    expect(parseJsonArgument('[1,{"a":null}]', 'x', 'publish')).toEqual([1, { a: null }]);
  });

  it('places the end of the text for an unfinished document', () => {
    expect(() => parseJsonArgument('{"a":', 'data', 'publish')).toThrow('data is not valid JSON at position 5');
  });
});

describe('usageOf', () => {
  it("gives a command's usage, and the general one otherwise", () => {
    expect(usageOf('rebuild')).toMatch(/^Usage: pulse rebuild <topic>/);
    expect(usageOf(undefined)).toBe(GENERAL_USAGE);
    expect(usageOf('bogus')).toBe(GENERAL_USAGE);
    for (const command of [
      'tail',
      'snapshot',
      'topics',
      'publish',
      'rebuild',
      'status',
      'series',
      'instance',
      'alerts',
      'rules',
      'silence',
    ])
      expect(GENERAL_USAGE).toContain(`  ${command} `);
  });
});

describe('series and instance', () => {
  it('parse the step and the span back from now, with defaults 1h and 24h', () => {
    expect(parseCommandLine(['series', 'demo']).command).toEqual({
      name: 'series',
      topic: 'demo',
      step: '1h',
      sinceMs: 86_400_000,
      json: false,
    });
    expect(parseCommandLine(['series', 'demo', '--step', '1m', '--since', '90m', '--json']).command).toEqual({
      name: 'series',
      topic: 'demo',
      step: '1m',
      sinceMs: 5_400_000,
      json: true,
    });
    expect(parseCommandLine(['series', 'demo', '--step', '1d', '--since', '730d']).command).toMatchObject({
      step: '1d',
      sinceMs: 730 * 86_400_000,
    });
    expect(parseCommandLine(['instance', 'demo', 'host-1.eu:a@b/c']).command).toEqual({
      name: 'instance',
      topic: 'demo',
      instanceId: 'host-1.eu:a@b/c',
      json: false,
    });
  });

  it.each([
    [['series', 'demo', '--step', '5m'], '--step must be 1m, 1h or 1d, got "5m"'],
    [
      ['series', 'demo', '--since', 'yesterday'],
      '--since must be a duration from 1m to 730d, like 90m, 24h or 30d; got "yesterday"',
    ],
    [['series', 'demo', '--since', '24'], 'got "24"'],
    [['series', 'demo', '--since', '0m'], 'got "0m"'],
    [['series', 'demo', '--step', '1m', '--since', '30d'], '--since 30d at --step 1m is 43201 buckets; at most 1500'],
    [['series', 'Bad Topic'], 'is not a topic name'],
    [['series', 'demo', '--type', 'x'], 'series does not take --type'],
    [['instance', 'demo'], 'instance needs <id>'],
    [['instance', 'demo', '-bad'], 'Unknown option'],
    [['instance', 'demo', 'has space'], '"has space" is not an instance id'],
  ])('refuse %j: %s', (argv, message) => {
    const error = usageErrorOf(argv);
    expect(error.message).toContain(message);
  });
});

describe('alerts, rules and silence', () => {
  it('parse the topic, and for silence the matchers, the span and the comment', () => {
    expect(parseCommandLine(['alerts', 'demo']).command).toEqual({ name: 'alerts', topic: 'demo', json: false });
    expect(parseCommandLine(['rules', 'demo', '--json']).command).toEqual({ name: 'rules', topic: 'demo', json: true });
    expect(parseCommandLine(['silence', 'demo', '--for', '2h', '--comment', ' db migration ']).command).toEqual({
      name: 'silence',
      topic: 'demo',
      forMs: 7_200_000,
      comment: 'db migration',
      json: false,
    });
    expect(
      parseCommandLine([
        'silence',
        'demo',
        '--rule',
        'offline',
        '--instance',
        'demo-03',
        '--for',
        '30m',
        '--comment',
        'reboot',
        '--json',
      ]).command,
    ).toEqual({
      name: 'silence',
      topic: 'demo',
      ruleId: 'offline',
      instanceId: 'demo-03',
      forMs: 1_800_000,
      comment: 'reboot',
      json: true,
    });
    expect(parseCommandLine(['help', 'silence']).command).toEqual({ name: 'help', command: 'silence' });
  });

  it.each([
    [['alerts'], 'alerts needs <topic>'],
    [['rules', 'Bad Topic'], 'is not a topic name'],
    [['alerts', 'demo', '--for', '1h'], 'alerts does not take --for'],
    [['silence', 'demo', '--comment', 'x'], 'silence needs --for <duration>'],
    [['silence', 'demo', '--for', '2h'], 'silence needs --comment <text>'],
    [['silence', 'demo', '--for', '2h', '--comment', '  '], 'silence needs --comment <text>'],
    [
      ['silence', 'demo', '--for', '2 hours', '--comment', 'x'],
      '--for must be a duration from 1m to 366d, like 90m, 24h or 30d; got "2 hours"',
    ],
    [['silence', 'demo', '--for', '400d', '--comment', 'x'], 'got "400d"'],
    [['silence', 'demo', '--for', '1h', '--comment', 'x', '--rule', 'a b'], '"a b" is not a rule id (--rule)'],
    [['silence', 'demo', '--for', '1h', '--comment', 'x', '--instance', '-x'], 'ambiguous'],
    [['silence', 'demo', '--for', '1h', '--comment', 'x', '--instance', '.x'], 'is not an instance id (--instance)'],
  ])('refuse %j: %s', (argv, message) => {
    const error = usageErrorOf(argv);
    expect(error.message).toContain(message);
    expect(error.command).toBe(argv[0]);
  });
});

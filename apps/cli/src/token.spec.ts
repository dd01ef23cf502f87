// `pulse token` and PULSE_TOKEN: what is minted is what a gateway accepts; bad flags are usage errors.
import { describe, expect, it } from '@jest/globals';
import { TokenVerifier } from '#pulse/auth';
import { run } from './cli.js';
import type { Terminal } from './context.js';

const secret = 'c'.repeat(32);

function terminal(): Terminal & { stdout: string; stderr: string } {
  const term = {
    stdout: '',
    stderr: '',
    outIsTTY: false,
    errIsTTY: false,
    colors: false,
    errColors: false,
  } as Terminal & { stdout: string; stderr: string };
  term.out = (text) => void (term.stdout += text);
  term.err = (text) => void (term.stderr += text);
  return term;
}

describe('pulse token', () => {
  it('mints a token the gateways accept, with the role, topics and lifetime asked for', async () => {
    const term = terminal();
    const code = await run(
      ['token', '--sub', 'ana', '--role', 'viewer', '--topic', 'demo', '--topic', 'orders.*', '--ttl', '2h', '--json'],
      term,
      new AbortController().signal,
      { PULSE_AUTH_SECRET: secret },
    );
    expect({ code, stderr: term.stderr }).toEqual({ code: 0, stderr: '' });
    const printed = JSON.parse(term.stdout) as { token: string; expiresAt: string };
    const principal = await new TokenVerifier({ secret }).verify(printed.token);
    expect(principal).toMatchObject({ sub: 'ana', role: 'viewer', topics: ['demo', 'orders.*'] });
    expect(principal.expiresAt! - Date.now()).toBeGreaterThan(7_100_000);
    expect(Date.parse(printed.expiresAt) - principal.expiresAt!).toBeLessThan(2000);
  });

  it('prints only the token without --json, so that it can go into a variable', async () => {
    const term = terminal();
    expect(
      await run(['token', '--sub', 'ci', '--role', 'publisher'], term, new AbortController().signal, {
        PULSE_AUTH_SECRET: secret,
      }),
    ).toBe(0);
    expect(term.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(await new TokenVerifier({ secret }).verify(term.stdout.trim())).toMatchObject({
      role: 'publisher',
      topics: ['*'],
    });
  });

  it.each([
    [['token', '--role', 'viewer'], '--sub'],
    [['token', '--sub', 'a', '--role', 'root'], '--role'],
    [['token', '--sub', 'a', '--role', 'viewer', '--topic', 'Bad Topic'], '--topic'],
    [['token', '--sub', 'a', '--role', 'viewer', '--ttl', '5y'], '--ttl'],
  ])('refuses %j as a usage error naming %s', async (argv, flag) => {
    const term = terminal();
    expect(await run(argv, term, new AbortController().signal, { PULSE_AUTH_SECRET: secret })).toBe(2);
    expect(term.stderr).toContain(flag);
  });

  it('refuses a PULSE_TOKEN that no header can carry as a usage error, without printing it', async () => {
    const term = terminal();
    expect(await run(['topics'], term, new AbortController().signal, { PULSE_TOKEN: 'secret\nline' })).toBe(2);
    expect(term.stderr).toContain('PULSE_TOKEN must be a token as pulse token prints it');
    expect(term.stderr).toContain('character 7 is U+000A');
    expect(term.stderr).not.toContain('secret');
  });

  it('says which variable to set when there is no key to sign with', async () => {
    const term = terminal();
    expect(await run(['token', '--sub', 'a', '--role', 'admin'], term, new AbortController().signal, {})).toBe(1);
    expect(term.stderr).toContain('PULSE_AUTH_SECRET');
  });
});

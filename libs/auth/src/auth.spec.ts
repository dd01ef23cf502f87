// Tokens and permissions without a gateway: topic patterns, roles, and each way a token is refused.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { roleAllows, topicAllowed, topicMatches, type Principal } from './claims.js';
import { mintToken, TokenError, TokenVerifier } from './tokens.js';

const secret = 'k'.repeat(32);
const principal = (role: Principal['role'], topics: string[]): Principal => ({
  sub: 'p',
  role,
  topics,
  expiresAt: null,
});

async function reasonOf(verifier: TokenVerifier, token: unknown): Promise<string> {
  try {
    await verifier.verify(token);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenError);
    return (error as TokenError).reason;
  }
  throw new Error('expected the token to be refused');
}

describe('topic patterns', () => {
  it.each([
    ['*', 'anything', true],
    ['demo', 'demo', true],
    ['demo', 'demo2', false],
    ['orders.*', 'orders.eu', true],
    ['orders.*', 'ordersxeu', false],
    ['*-prod', 'web-prod', true],
    ['*-prod', 'web-prod-2', false],
  ])('%s matches %s: %s', (pattern, topic, expected) => {
    expect(topicMatches(pattern, topic)).toBe(expected);
  });

  it('answers a pattern of many stars against a long topic at once (no regex backtracking)', () => {
    // The former RegExp took exponential time here (a* repeated, then a character that never comes).
    const pattern = `${'a*'.repeat(31)}b`;
    expect(topicMatches(pattern, 'a'.repeat(64))).toBe(false);
    expect(topicMatches(pattern, `${'a'.repeat(63)}b`)).toBe(true);
  });

  it('agrees with a plain recursive glob on random patterns and topics', () => {
    const reference = (pattern: string, topic: string): boolean => {
      if (pattern === '') return topic === '';
      if (pattern[0] === '*')
        return reference(pattern.slice(1), topic) || (topic !== '' && reference(pattern, topic.slice(1)));
      return topic !== '' && pattern[0] === topic[0] && reference(pattern.slice(1), topic.slice(1));
    };
    const char = fc.constantFrom('a', 'b', '.', '-');
    fc.assert(
      fc.property(
        fc.array(fc.oneof(char, fc.constant('*')), { minLength: 1, maxLength: 8 }),
        fc.array(char, { maxLength: 10 }),
        (pattern, topic) => {
          expect(topicMatches(pattern.join(''), topic.join(''))).toBe(reference(pattern.join(''), topic.join('')));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('gives each role its rights and each token its topics', () => {
    expect(roleAllows(principal('viewer', ['*']), 'read')).toBe(true);
    expect(roleAllows(principal('viewer', ['*']), 'publish')).toBe(false);
    expect(roleAllows(principal('publisher', ['*']), 'read')).toBe(false);
    expect(roleAllows(principal('publisher', ['*']), 'publish')).toBe(true);
    for (const action of ['read', 'publish', 'scrape', 'admin'] as const)
      expect(roleAllows(principal('admin', []), action)).toBe(true);
    // A metrics token (Prometheus) scrapes and does nothing else.
    expect(
      ['read', 'publish', 'scrape', 'admin'].filter((action) =>
        roleAllows(principal('metrics', ['*']), action as 'read'),
      ),
    ).toEqual(['scrape']);
    expect(roleAllows(principal('viewer', ['*']), 'scrape')).toBe(false);
    expect(topicAllowed(principal('viewer', ['a', 'b.*']), 'b.c')).toBe(true);
    expect(topicAllowed(principal('viewer', []), 'a')).toBe(false);
  });
});

describe('TokenVerifier', () => {
  const verifier = new TokenVerifier({ secret });

  it('accepts a minted token and reads its claims', async () => {
    const token = await mintToken({ secret }, { sub: 'ana', role: 'viewer', topics: ['demo'], ttlSeconds: 60 });
    const read = await verifier.verify(token);
    expect(read).toMatchObject({ sub: 'ana', role: 'viewer', topics: ['demo'] });
    expect(read.expiresAt! - Date.now()).toBeGreaterThan(50_000);
  });

  it('names why a token is refused', async () => {
    expect(await reasonOf(verifier, undefined)).toBe('TOKEN_MISSING');
    expect(await reasonOf(verifier, '')).toBe('TOKEN_MISSING');
    expect(await reasonOf(verifier, 'x.y')).toBe('TOKEN_MALFORMED');
    expect(await reasonOf(verifier, { token: 1 })).toBe('TOKEN_MALFORMED');
    expect(await reasonOf(verifier, 'e30.e30.')).toBe('TOKEN_MALFORMED');
    expect(await reasonOf(verifier, await mintToken({ secret }, { sub: 'a', role: 'viewer', ttlSeconds: -5 }))).toBe(
      'TOKEN_EXPIRED',
    );
    expect(await reasonOf(verifier, await mintToken({ secret: 'o'.repeat(32) }, { sub: 'a', role: 'admin' }))).toBe(
      'TOKEN_INVALID',
    );
    // Signed right, but claims Pulse cannot use: an unknown role, no topics.
    const odd = await new SignJWT({ role: 'root' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('a')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    expect(await reasonOf(verifier, odd)).toBe('TOKEN_INVALID');
    // The "none" algorithm never passes.
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'a', role: 'admin', topics: ['*'], exp: 9_999_999_999 })).toString('base64url')}.`;
    expect(['TOKEN_MALFORMED', 'TOKEN_INVALID']).toContain(await reasonOf(verifier, none));
  });

  it('checks asymmetric tokens with the public key only', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = {
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    const asymmetric = new TokenVerifier({ publicKey: pem.publicKey, alg: 'ES256' });
    const token = await mintToken(
      { privateKey: pem.privateKey, alg: 'ES256' },
      { sub: 'svc', role: 'publisher', topics: ['*'] },
    );
    expect(await asymmetric.verify(token)).toMatchObject({ sub: 'svc', role: 'publisher' });
    // An HS256 token made with the public key as the secret (key confusion) is refused.
    expect(await reasonOf(asymmetric, await mintToken({ secret: pem.publicKey }, { sub: 'x', role: 'admin' }))).toBe(
      'TOKEN_INVALID',
    );
  });
});

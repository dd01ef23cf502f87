// The page's gateways and where its token may go: a ?gateways= link cannot send the token to another origin.
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { gatewayUrls, tokenFor } from './gateways.js';

const page = { origin: 'https://pulse.example', href: 'https://pulse.example/?topic=demo' };

describe('gatewayUrls', () => {
  beforeAll(() => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });

  it('keeps other origins for failover while the page holds no token', () => {
    expect(gatewayUrls('https://b.example:3001, ftp://x, /same', page, false)).toEqual([
      'https://pulse.example',
      'https://b.example:3001',
    ]);
  });

  it('leaves other origins out while the page holds a token', () => {
    expect(gatewayUrls('https://evil.example,https://pulse.example/other', page, true)).toEqual([
      'https://pulse.example',
    ]);
  });
});

describe('tokenFor', () => {
  it('gives the token to the page origin only', () => {
    expect(tokenFor('https://pulse.example', page.origin, 't')).toBe('t');
    expect(tokenFor('https://pulse.example:444', page.origin, 't')).toBeNull();
    expect(tokenFor('https://evil.example', page.origin, 't')).toBeNull();
    expect(tokenFor('not a url', page.origin, 't')).toBeNull();
  });
});

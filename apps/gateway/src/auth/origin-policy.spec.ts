// Which browser origins may reach a gateway: none but its own unless listed.
import { describe, expect, it } from '@jest/globals';
import { OriginPolicy } from './origin-policy.js';

describe('OriginPolicy', () => {
  const policy = new OriginPolicy(['https://ops.example']);

  it('lets requests without an Origin (not from a page) and from the gateway\'s own page through', () => {
    expect(policy.allows({ host: '127.0.0.1:3000' })).toBe(true);
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000' })).toBe(true);
    expect(policy.allows({ host: 'pulse.internal', 'x-forwarded-host': 'pulse.example', origin: 'https://pulse.example' })).toBe(true);
  });

  it('lets listed origins through and refuses the rest, other ports of the same host included', () => {
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'https://ops.example' })).toBe(true);
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'https://evil.example' })).toBe(false);
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3001' })).toBe(false);
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'null' })).toBe(false);
    expect(policy.corsAllows('https://ops.example')).toBe(true);
    expect(policy.corsAllows('https://evil.example')).toBe(false);
    expect(new OriginPolicy(['*']).allows({ host: 'a', origin: 'https://anything.example' })).toBe(true);
  });
});

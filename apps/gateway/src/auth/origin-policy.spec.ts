// Which browser origins may reach a gateway, under which hosts: its own (loopback, IP address, PULSE_PUBLIC_URL) and the listed ones.
import { describe, expect, it } from '@jest/globals';
import { OriginPolicy } from './origin-policy.js';

describe('OriginPolicy', () => {
  const policy = new OriginPolicy({ allowedOrigins: ['https://ops.example'] });

  it("lets requests without an Origin (not from a page) and from the gateway's own loopback or IP-address page through", () => {
    expect(policy.allows({ host: '127.0.0.1:3000' })).toBe(true);
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000' })).toBe(true);
    expect(policy.allows({ host: 'localhost:3000', origin: 'http://localhost:3000' })).toBe(true);
    expect(policy.allows({ host: '10.1.2.3', origin: 'http://10.1.2.3' })).toBe(true);
    expect(policy.allows({ host: '[::1]:3000', origin: 'http://[::1]:3000' })).toBe(true);
  });

  it('lets listed origins through and refuses the rest, other ports of the same host included', () => {
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'https://ops.example' })).toBe(true);
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'https://evil.example' })).toBe(false);
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3001' })).toBe(false);
    expect(policy.allows({ host: '127.0.0.1:3000', origin: 'null' })).toBe(false);
    expect(policy.corsAllows('https://ops.example')).toBe(true);
    expect(policy.corsAllows('https://evil.example')).toBe(false);
    expect(new OriginPolicy({ allowedOrigins: ['*'] }).allows({ host: 'a', origin: 'https://anything.example' })).toBe(
      true,
    );
  });

  it('never lets Origin: null through, not even with *', () => {
    const any = new OriginPolicy({ allowedOrigins: ['*'] });
    expect(any.problem({ host: '127.0.0.1:3000', origin: 'null' })).toContain('origin null');
    expect(any.corsAllows('null')).toBe(false);
  });

  it('takes a host name as its own only through PULSE_PUBLIC_URL: not a rebinding Host, not another port of a port-less Host', () => {
    // DNS rebinding: evil.example resolves to the gateway; the page's origin equals the Host.
    expect(policy.problem({ host: 'evil.example:3000', origin: 'http://evil.example:3000' })).toContain(
      'origin http://evil.example:3000 is not allowed',
    );
    // Behind a proxy that drops the port: any page on that host name passed before.
    expect(policy.allows({ host: 'pulse.example', origin: 'http://pulse.example:9999' })).toBe(false);
    expect(policy.allows({ host: 'pulse.example', origin: 'https://pulse.example' })).toBe(false);
    const published = new OriginPolicy({ allowedOrigins: [], publicUrls: ['https://pulse.example'] });
    expect(published.allows({ host: 'pulse.example', origin: 'https://pulse.example' })).toBe(true);
    expect(published.allows({ host: 'pulse.example', origin: 'http://pulse.example:9999' })).toBe(false);
  });

  it('believes X-Forwarded-Host from trusted proxies only', () => {
    const headers = {
      host: '127.0.0.1:3000',
      'x-forwarded-host': 'evil.example:3000',
      origin: 'http://evil.example:3000',
    };
    const checking = new OriginPolicy({ allowedOrigins: [], checkHost: true, trustedProxies: ['10.0.0.0/8'] });
    // From an untrusted peer the forwarded host is ignored: Host (loopback) is served, the origin is not its own.
    expect(checking.problem(headers, '192.168.1.9')).toContain('origin http://evil.example:3000 is not allowed');
    // From the proxy it counts, and names a host this gateway does not serve.
    expect(checking.problem(headers, '::ffff:10.1.1.1')).toContain(
      'host evil.example:3000 is not one this gateway serves',
    );
    const forwarded = { host: 'gateway:3000', 'x-forwarded-host': '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' };
    expect(checking.allows(forwarded, '10.0.0.2')).toBe(true);
    expect(checking.allows(forwarded, '11.0.0.2')).toBe(false);
  });

  it('with checkHost (auth off), serves loopback, IP-address and configured hosts only, Origin or not', () => {
    const checking = new OriginPolicy({
      allowedOrigins: [],
      checkHost: true,
      publicUrls: ['https://pulse.example'],
      allowedHosts: ['pulse.internal'],
    });
    for (const host of [
      '127.0.0.1:3000',
      'localhost:3000',
      'app.localhost',
      '10.0.0.7:3000',
      '[::1]:3000',
      'pulse.example',
      'pulse.internal:3000',
    ])
      expect({ host, ok: checking.allows({ host }) }).toEqual({ host, ok: true });
    expect(checking.problem({ host: 'evil.example:3000' })).toContain('PULSE_ALLOWED_HOSTS');
    expect(policy.allows({ host: 'evil.example:3000' })).toBe(true);
  });
});

// The demo's default rules against a real HTTP server: created once, left alone when present, retried while gateways start, skipped with a reason when refused.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { DEMO_RULES, setUpDemoRules } from './demo-rules.js';

let server: Server | undefined;

/** A stand-in gateway: `handle` answers each request; every request is recorded. */
async function gateway(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  const requests: { method: string; url: string; body: string; authorization?: string }[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        body,
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      handle(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

function logs() {
  const lines: string[] = [];
  return {
    lines,
    log: { warn: (msg: string) => lines.push(`warn ${msg}`), log: (msg: string) => lines.push(`log ${msg}`) },
  };
}

describe('setUpDemoRules', () => {
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('creates the missing rules only, with the token, and changes nothing on a second start', async () => {
    const rules = new Map<string, unknown>([
      ['instance-offline', { kind: 'instance_offline', params: {}, severity: 'info' }],
    ]);
    const { url, requests } = await gateway((req, body, res) => {
      if (req.method === 'GET')
        return json(
          res,
          200,
          [...rules].map(([ruleId, rule]) => ({ ruleId, ...(rule as object) })),
        );
      rules.set(decodeURIComponent(req.url!.split('/').at(-1)!), JSON.parse(body));
      json(res, 200, { ok: true });
    });
    const { lines, log } = logs();
    const options = {
      urls: [`${url}/`],
      log,
      signal: new AbortController().signal,
      token: () => Promise.resolve('t0k'),
    };
    expect(await setUpDemoRules(options)).toEqual({ created: ['failure-rate'], kept: ['instance-offline'] });
    // The rule a person changed (severity info) stays as it is.
    expect(rules.get('instance-offline')).toEqual({ kind: 'instance_offline', params: {}, severity: 'info' });
    expect(rules.get('failure-rate')).toEqual(DEMO_RULES['failure-rate']);
    expect(requests.every((r) => r.authorization === 'Bearer t0k')).toBe(true);
    expect(lines).toEqual([
      'log demo fleet: alert rules failure-rate set on topic "demo" (pulse rules demo lists them)',
    ]);

    expect(await setUpDemoRules(options)).toEqual({ created: [], kept: ['instance-offline', 'failure-rate'] });
    expect(requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  it('retries while no gateway answers, trying each in order', async () => {
    let answers = 0;
    const { url, requests } = await gateway((req, _body, res) => {
      answers += 1;
      if (answers <= 2) return json(res, 503, { ok: false, message: 'starting' });
      json(res, 200, req.method === 'GET' ? { rules: [] } : {});
    });
    const { log } = logs();
    const outcome = await setUpDemoRules({
      urls: ['http://127.0.0.1:1', url],
      log,
      signal: new AbortController().signal,
      retryMs: 20,
    });
    expect(outcome).toEqual({ created: Object.keys(DEMO_RULES), kept: [] });
    expect(requests.filter((r) => r.method === 'GET')).toHaveLength(3);
  });

  it('gives up with a reason when the gateways have no rules API or refuse the token, and stops when aborted', async () => {
    let status = 404;
    const { url } = await gateway((_req, _body, res) => json(res, status, { ok: false, message: 'nope' }));
    const { lines, log } = logs();
    expect(await setUpDemoRules({ urls: [url], log, signal: new AbortController().signal })).toEqual({
      skipped: expect.stringContaining('has no alert rules API'),
    });
    status = 403;
    expect(await setUpDemoRules({ urls: [url], log, signal: new AbortController().signal })).toEqual({
      skipped: expect.stringContaining("refused the demo's token (403)"),
    });
    expect(lines.every((line) => line.startsWith('warn demo fleet: default alert rules not set up'))).toBe(true);

    status = 503;
    const stop = new AbortController();
    const running = setUpDemoRules({ urls: [url], log, signal: stop.signal, retryMs: 60_000 });
    stop.abort();
    expect(await running).toEqual({ skipped: 'stopped' });
  });
});

// The demo module booted as the worker boots it: on with PULSE_DEMO, posting to a real HTTP server and setting the default rules, stopped on close.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigModule, parseConfig } from '#pulse/config';
import { within } from '#pulse/stack';
import { ingestBodySchema } from '#pulse/contracts';
import { DemoFleetService } from './demo-fleet.service.js';
import { DEMO_RULES } from './demo-rules.js';
import { DemoModule } from './demo.module.js';

let server: Server | undefined;

/** A stand-in gateway that accepts every request (a rules list is empty) and resolves `firstPost` on the first events post. */
async function gateway() {
  const posts: { method: string; url: string; body: unknown }[] = [];
  let resolveFirst: () => void = () => undefined;
  const firstPost = new Promise<void>((resolve) => {
    resolveFirst = resolve;
  });
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      posts.push({ method: req.method ?? '', url: req.url ?? '', body: text ? (JSON.parse(text) as unknown) : null });
      if (req.method === 'GET') return void res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"seqs":[]}');
      if (req.url?.endsWith('/events')) resolveFirst();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, posts, firstPost };
}

async function boot(env: Record<string, string>) {
  @Module({ imports: [ConfigModule.forRoot(parseConfig(env)), DemoModule] })
  class RootModule {}
  const app = await NestFactory.createApplicationContext(RootModule, { logger: false });
  await app.init();
  return app;
}

describe('DemoModule', () => {
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('posts the fleet to the configured gateway when PULSE_DEMO is on, and stops on close', async () => {
    const { url, posts, firstPost } = await gateway();
    const app = await boot({ PULSE_DEMO: '1', PULSE_DEMO_URLS: url });
    await within('the first demo post', firstPost, 5_000);
    // Closing resolves only once the fleet's timer is cleared and its post in flight is done.
    const rulesSet = app.get(DemoFleetService).rules;
    if (!rulesSet) throw new Error('the demo did not start setting up its rules');
    const outcome = await within('the default rules set up', rulesSet, 10_000);
    await app.close();
    const events = posts.find((post) => post.url === '/api/v1/topics/demo/events');
    expect(ingestBodySchema.safeParse(events?.body).success).toBe(true);
    expect(outcome).toEqual({ created: Object.keys(DEMO_RULES), kept: [] });
    const puts = posts.filter((post) => post.method === 'PUT');
    expect(puts.map((put) => put.url).sort()).toEqual([
      '/api/v1/topics/demo/rules/failure-rate',
      '/api/v1/topics/demo/rules/instance-offline',
    ]);
    expect(puts.find((put) => put.url.endsWith('/failure-rate'))?.body).toEqual(DEMO_RULES['failure-rate']);
  });

  it('stays off when gateways check tokens with a public key: the worker has no key to sign one', async () => {
    const { url, posts } = await gateway();
    const { publicKey } = generateKeyPairSync('ed25519');
    const app = await boot({
      PULSE_DEMO: '1',
      PULSE_DEMO_URLS: url,
      PULSE_AUTH_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      PULSE_AUTH_ALG: 'EdDSA',
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await app.close();
    expect(posts).toEqual([]);
  });

  it('does nothing when PULSE_DEMO is off', async () => {
    const { url, posts } = await gateway();
    const app = await boot({ PULSE_DEMO: '0', PULSE_DEMO_URLS: url });
    await app.close();
    expect(posts).toEqual([]);
  });
});

// The ingest bench's floor, one child process: a bare node:http server that reads and parses each POST's JSON body and answers 201 with seqs, as the ingest route does, with no framework, no validation and no Redis.
// Usage (through ChildServer): node http-floor-server.js. What one HTTP request costs on this machine before Pulse does anything with it.
import { createServer } from 'node:http';
import { listenOnLoopback, runChild, serveParent } from './child-server.js';

/** The ingest route's path; the topic is taken as sent. */
const INGEST_PATH = /^\/api\/v1\/topics\/([^/?]+)\/events/;

async function main(): Promise<number> {
  /** Last seq answered per topic: the answers continue each topic by one, as a log would. */
  const heads = new Map<string, number>();
  const http = createServer((request, response) => {
    const topic = request.method === 'POST' ? INGEST_PATH.exec(request.url ?? '')?.[1] : undefined;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let events: unknown;
      try {
        events = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events?: unknown }).events;
      } catch {
        events = undefined;
      }
      if (topic === undefined || !Array.isArray(events) || events.length === 0) {
        response.writeHead(400, { 'content-type': 'application/json' }).end('{"ok":false}');
        return;
      }
      const first = (heads.get(topic) ?? 0) + 1;
      heads.set(topic, first + events.length - 1);
      const seqs = events.map((_, i) => first + i);
      response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ epoch: 'floor', seqs }));
    });
  });
  serveParent(
    () => Promise.reject(new Error('the floor server takes no requests from the bench, only HTTP')),
    async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  );
  return listenOnLoopback(http);
}

runChild(main);

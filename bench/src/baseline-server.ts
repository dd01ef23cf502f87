// Baseline B, one child process: the standard recipe — a plain Socket.IO server with @socket.io/redis-adapter; clients join a room.
// Usage (through ChildServer): node baseline-server.js <redis-url>. Events come from the producer's @socket.io/redis-emitter.
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { listenOnLoopback, runChild, serveParent } from './child-server.js';

async function main(redisUrl: string): Promise<number> {
  const pub = new Redis(redisUrl, { connectionName: 'bench:baseline-pub' });
  const sub = pub.duplicate({ connectionName: 'bench:baseline-sub' });
  const http = createServer();
  // Same transport settings as Pulse's gateways: websocket, no compression.
  const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false });
  io.on('connection', (socket) => {
    socket.on('join', (room: unknown, ack: unknown) => {
      if (typeof room !== 'string' || typeof ack !== 'function') return;
      void socket.join(room);
      (ack as (ok: boolean) => void)(true);
    });
  });
  serveParent(
    () => Promise.reject(new Error('no requests')),
    async () => {
      await io.close();
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  );
  io.adapter(createAdapter(pub, sub));
  // The adapter subscribed on `sub` when it was created; a PING answered after it proves the subscription is live.
  await sub.ping();
  return listenOnLoopback(http);
}

runChild(() => main(process.argv[2] ?? 'redis://127.0.0.1:6379'));

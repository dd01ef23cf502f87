// Ceiling C, one child process: a raw `ws` server that frames each event once and writes that frame to every client. No Redis, no Socket.IO.
// Usage (through ChildServer): node ws-ceiling-server.js; each run request produces open-loop from inside this process.
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { WebSocketServer, type WebSocket } from 'ws';
import { listenOnLoopback, runChild, serveParent } from './child-server.js';
import { openLoop, type RunSpec } from './open-loop.js';
import { envelope } from './payload.js';

interface FrameSender {
  frame(
    data: Buffer,
    options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean },
  ): Buffer[];
}

/** ws's frame builder (not in its type declarations). */
const { Sender } = createRequire(import.meta.url)('ws') as { Sender: FrameSender };

/** The TCP socket under a ws connection (ws keeps it as `_socket`). */
const rawSocket = (client: WebSocket) => (client as unknown as { _socket: Socket })._socket;

async function main(): Promise<number> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const run = (spec: RunSpec) =>
    openLoop(spec, (index) => {
      const [header, payload] = Sender.frame(Buffer.from(JSON.stringify(envelope(spec.topic, spec.base + index + 1))), {
        fin: true,
        opcode: 1,
        mask: false,
        readOnly: true,
        rsv1: false,
      });
      for (const client of wss.clients) {
        const socket = rawSocket(client);
        socket.cork();
        socket.write(header!);
        if (payload) socket.write(payload);
        socket.uncork();
      }
    });
  serveParent(
    (body) => run(body as RunSpec),
    async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  );
  return listenOnLoopback(http);
}

runChild(main);

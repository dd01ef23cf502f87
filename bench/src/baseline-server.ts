// Latency baseline, one child process: a plain Socket.IO server with @socket.io/redis-adapter, the standard multi-process recipe.
// Usage (by baseline-cluster.ts): node baseline-server.js <redis-url>; it talks to its parent over IPC.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import type { PulseEvent } from '#pulse/contracts';

/** Parent → child. */
export type BaselineCommand = { kind: 'emit'; event: PulseEvent } | { kind: 'stop' };
/** Child → parent. */
export type BaselineNotice = { kind: 'ready'; port: number } | { kind: 'failed'; message: string };

/** Key prefix of the adapter's channels; the two servers share it. */
const ADAPTER_KEY = 'bench:io';

function isCommand(message: unknown): message is BaselineCommand {
  return typeof message === 'object' && message !== null && 'kind' in message && (message.kind === 'emit' || message.kind === 'stop');
}

function notify(notice: BaselineNotice): void {
  process.send?.(notice);
}

async function main(redisUrl: string): Promise<void> {
  const pub = new Redis(redisUrl, { connectionName: 'bench:baseline-pub' });
  const sub = pub.duplicate({ connectionName: 'bench:baseline-sub' });
  const http = createServer();
  const io = new Server(http);
  const stop = async () => {
    await io.close();
    await Promise.allSettled([pub.quit(), sub.quit()]);
    process.exit(0);
  };
  // The parent is gone, maybe with Redis (even before this server is up): exit at once, nothing else would stop it.
  const orphaned = () => process.exit(0);
  process.on('disconnect', orphaned);
  if (!process.connected) orphaned();
  process.on('message', (message: unknown) => {
    if (!isCommand(message)) return;
    // io.emit: to this server's sockets directly, and through Redis PUBLISH to every other server's.
    if (message.kind === 'emit') io.emit(message.event.type, message.event);
    else void stop();
  });
  io.adapter(createAdapter(pub, sub, { key: ADAPTER_KEY }));
  // The adapter subscribed on `sub` when it was created; a PING answered after it proves the subscription is live.
  await sub.ping();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  notify({ kind: 'ready', port: (http.address() as AddressInfo).port });
}

main(process.argv[2] ?? 'redis://127.0.0.1:6379').catch((error: unknown) => {
  notify({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});

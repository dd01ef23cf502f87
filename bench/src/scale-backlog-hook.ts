// Scale run, an experiment knob (--backlog N): a preload that gives every server this process listens with (port, host, callback) an accept queue of N instead of Node's 511. Pulse itself is unchanged.
// Loaded as `--import <this file>?backlog=N`: the size travels in the module's own URL.
import { Server } from 'node:net';

const backlog = Number(new URL(import.meta.url).searchParams.get('backlog'));

if (Number.isInteger(backlog) && backlog > 0) {
  const listen = Object.getOwnPropertyDescriptor(Server.prototype, 'listen')!.value as (
    this: Server,
    ...args: unknown[]
  ) => Server;
  Server.prototype.listen = function (this: Server, ...args: unknown[]): Server {
    // listen(port, host, callback), as Nest's and Socket.IO's http servers call it: add the backlog before the callback.
    if ((typeof args[0] === 'number' || typeof args[0] === 'string') && typeof args[1] === 'string' && args.length <= 3)
      args.splice(2, 0, backlog);
    return listen.apply(this, args);
  } as Server['listen'];
}

// Bench-only preload (node --import) for servers whose memory the bench measures: on SIGWINCH, a full GC, then one line with memoryUsage() and the open TCP sockets.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The line the bench waits for; JSON of process.memoryUsage() follows it. */
export const MEMORY_LINE = 'PULSE_BENCH_MEMORY ';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

process.on('SIGWINCH', () => {
  // Twice: the first pass may only queue finalizers (weak refs, sockets closed just before).
  gc();
  gc();
  // With the count of open TCP sockets, so that the bench can tell when closed clients are gone.
  const sockets = process.getActiveResourcesInfo().filter((resource) => resource === 'TCPSocketWrap').length;
  process.stdout.write(`${MEMORY_LINE}${JSON.stringify({ ...process.memoryUsage(), sockets })}\n`);
});

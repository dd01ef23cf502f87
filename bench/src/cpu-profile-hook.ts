// Bench-only preload (node --import <this file>?dir=<folder>) that profiles a process's whole life: a V8 CPU profile written to the folder when it exits (NODE_OPTIONS may not carry --cpu-prof).
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = new URL(import.meta.url).searchParams.get('dir');
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  let written = false;
  // A session on the process's own thread answers synchronously: the profile is written at once.
  const write = () => {
    if (written) return;
    written = true;
    session.post('Profiler.stop', (error, result) => {
      if (error) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  };
  process.once('exit', write);
  // Nest's shutdown hook ends a gateway by raising SIGTERM again once it closed, which skips 'exit':
  // the profile is written when the signal first comes (the shutdown is not in it).
  process.once('SIGTERM', () => {
    write();
    if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
  });
}

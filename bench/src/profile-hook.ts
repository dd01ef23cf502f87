// Bench-only preload (node --import) for a gateway the bench profiles: SIGURG starts the V8 CPU profiler (node:inspector, in process); the next SIGURG stops it, writes the .cpuprofile to the temp folder and prints one line with its path.
import { writeFileSync } from 'node:fs';
import { Session, type Profiler } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The line the bench waits for; the written profile's path follows it. */
export const PROFILE_LINE = 'PULSE_BENCH_PROFILE ';
/** Sampling interval (µs): V8's default is 1000; finer shows short hot functions at a little more overhead. */
export const SAMPLING_INTERVAL_US = 250;

let session: Session | null = null;
let written = 0;

const post = <T>(method: string, params?: object): Promise<T> =>
  new Promise((resolve, reject) =>
    session!.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T))),
  );

async function toggle(): Promise<void> {
  if (!session) {
    session = new Session();
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    await post('Profiler.start');
    process.stdout.write(`${PROFILE_LINE}started\n`);
    return;
  }
  const { profile } = await post<{ profile: Profiler.Profile }>('Profiler.stop');
  session.disconnect();
  session = null;
  const file = join(tmpdir(), `pulse-bench-${process.pid}-${++written}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  process.stdout.write(`${PROFILE_LINE}${file}\n`);
}

// SIGURG: ignored by default (a process without this hook is unharmed), and not among the signals
// Nest's enableShutdownHooks() answers with a shutdown (SIGUSR2 is).
process.on('SIGURG', () => {
  toggle().catch((error: unknown) =>
    process.stdout.write(`${PROFILE_LINE}failed: ${error instanceof Error ? error.message : String(error)}\n`),
  );
});

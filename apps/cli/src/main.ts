// Entry of the `pulse` command (bin/pulse.js imports it): wires the process's streams and signals to run().
import { ConfigError, readCliEnv, type CliEnv } from '#pulse/config';
import { run } from './cli.js';
import type { Terminal } from './context.js';

/** Colours only on a terminal that has them; Node's check also honours NO_COLOR (the CLI reads its environment through #pulse/config). */
function colors(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && stream.hasColors();
}

const term: Terminal = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  outIsTTY: Boolean(process.stdout.isTTY),
  errIsTTY: Boolean(process.stderr.isTTY),
  colors: colors(process.stdout),
  errColors: colors(process.stderr),
  // A terminal that does not report its size says 0: then lines are not cut.
  ...(process.stdout.isTTY && process.stdout.columns > 0 ? { columns: process.stdout.columns } : {}),
};

// `pulse tail … | head`: the reader went away, which is a normal way to stop.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second Ctrl-C does not wait for the first to finish closing.
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  });
}

let env: CliEnv;
try {
  env = readCliEnv();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`pulse: ${error.message}\n`);
  process.exit(78);
}
const code = await run(process.argv.slice(2), term, controller.signal, env);
process.exitCode = code;
// Commands close what they open; anything still pending (a half-sent request after Ctrl-C) must not keep pulse alive.
setTimeout(() => process.exit(code), 2000).unref();

// `npm start`: the whole local stack in one command — Redis, workers, gateways on PORT, PORT+1…, the demo fleet.
import { parseArgs } from 'node:util';
import { portFree } from './free-port.js';
import { ConfigError, inheritedEnv, maskPasswords, parseConfig } from '#pulse/config';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { PROJECT_ROOT } from './pulse-process.js';
import { PulseStack } from './pulse-stack.js';

const USAGE = `Usage: npm start [-- --gateways N] [-- --workers M] [-- --redis-cluster K] [-- --data-dir DIR]

Starts Redis (REDIS_URL, or an embedded redis-server with its data in DIR/redis;
with --redis-cluster K, a new embedded Redis Cluster of K masters in DIR/redis-cluster),
M workers (1), N gateways (2) on PORT (3000), PORT+1, …, and the demo fleet on topic
"demo" unless PULSE_DEMO=0. DIR is .pulse in the project unless given. PULSE_GATEWAYS,
PULSE_WORKERS, PULSE_REDIS_CLUSTER and PULSE_DATA_DIR say the same as the flags. Every
other Pulse variable (PULSE_TICK_MS, …) is passed on.`;

function fail(message: string, code = 1): never {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(code);
}

/** A count from `flag` (e.g. --gateways) or else the variable `envName`, from `min` to 32; `fallback` when neither is given. */
function count(
  flag: string,
  raw: string | undefined,
  envName: string,
  envRaw: string | undefined,
  fallback: number,
  min = 1,
): number {
  const [label, given] = raw !== undefined ? [flag, raw] : [envName, envRaw];
  if (given === undefined || given.trim() === '') return fallback;
  const value = Number(given);
  if (!/^\d+$/.test(given.trim()) || value < min || value > 32)
    fail(`${label} must be a whole number from ${min} to 32, got "${given}"\n\n${USAGE}`, 2);
  return value;
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        gateways: { type: 'string' },
        workers: { type: 'string' },
        'redis-cluster': { type: 'string' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`, 2);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const env = inheritedEnv();
  // Flags win; PULSE_GATEWAYS / PULSE_WORKERS / PULSE_REDIS_CLUSTER say the same from the environment.
  const gateways = count('--gateways', args.gateways, 'PULSE_GATEWAYS', env.PULSE_GATEWAYS, 2);
  const workers = count('--workers', args.workers, 'PULSE_WORKERS', env.PULSE_WORKERS, 1);
  const clusterMasters = count(
    '--redis-cluster',
    args['redis-cluster'],
    'PULSE_REDIS_CLUSTER',
    env.PULSE_REDIS_CLUSTER,
    0,
    0,
  );
  if (clusterMasters > 0 && clusterMasters < 3)
    fail(`a Redis Cluster needs at least 3 masters, got ${clusterMasters}\n\n${USAGE}`, 2);
  if (args['data-dir']?.trim() === '') fail(`--data-dir must name a folder\n\n${USAGE}`, 2);
  // Two stacks side by side (another PORT) each keep their own embedded Redis data.
  const dirGiven = args['data-dir'] ?? env.PULSE_DATA_DIR?.trim();
  // Where the user typed it: npm runs scripts in the project, and says where in INIT_CWD.
  const typedIn = env.INIT_CWD ?? process.cwd();
  const dataDir = dirGiven ? resolve(typedIn, dirGiven) : join(PROJECT_ROOT, '.pulse');
  const redisDir = join(dataDir, clusterMasters > 0 ? 'redis-cluster' : 'redis');
  // Shown relative to there when it is below (.pulse/redis from the project), else whole.
  const fromHere = relative(typedIn, redisDir);
  const shownDir = fromHere && !fromHere.startsWith('..') && !isAbsolute(fromHere) ? fromHere : redisDir;
  let config;
  try {
    config = parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) fail(`${error.message}\nFix the variables above and start again.`);
    throw error;
  }
  const host = env.HOST?.trim() ? config.HOST : '127.0.0.1';
  const basePort = config.PORT || 3000;
  for (let i = 0; i < gateways; i++) {
    if (!(await portFree(basePort + i, host)))
      fail(`port ${basePort + i} is in use (another npm start?). Stop that process, or run with PORT=<another port>.`);
  }
  const demo = env.PULSE_DEMO?.trim() ? config.PULSE_DEMO : true;
  const urls = Array.from(
    { length: gateways },
    (_, i) => `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${basePort + i}`,
  );

  const started = Date.now();
  const embedded = clusterMasters > 0 ? `embedded Redis Cluster of ${clusterMasters} masters` : 'embedded redis-server';
  process.stdout.write(
    `Starting Pulse: ${config.REDIS_URL && env.REDIS_URL ? `Redis at ${maskPasswords(env.REDIS_URL)}` : embedded}, ${workers} worker(s), ${gateways} gateway(s)${demo ? ', demo fleet' : ''}…\n`,
  );
  let stopping = false;
  const starting = PulseStack.start({
    redisUrl: env.REDIS_URL?.trim() ? config.REDIS_URL : undefined,
    // Ctrl-C reaches every process of the terminal's group at once: a redis-server among them quit
    // first, and the worker's shutdown then waited for it until stop()'s SIGKILL (10 s, with
    // ECONNREFUSED traces). Out of the group, it is stopped after the processes that use it.
    redisOwnProcessGroup: true,
    redisDir,
    ...(clusterMasters > 0 ? { redisCluster: clusterMasters, redisAppendOnly: false } : {}),
    gateways,
    workers,
    basePort,
    env: { HOST: host },
    // One demo fleet is enough; it fails over between the gateways.
    workerEnv: (index) => ({ PULSE_DEMO: demo && index === 0 ? '1' : '0', PULSE_DEMO_URLS: urls.join(',') }),
    onLine: (name, line) => process.stdout.write(`[${name}] ${line}\n`),
  });
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nStopping Pulse…\n');
    // Stopped while starting: wait for the start (a failed start stops what it began itself).
    await (await starting.catch(() => null))?.stop();
    process.stdout.write('Stopped.\n');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  // A closed terminal: the embedded Redis is out of its group (and ignores SIGHUP): stop it too.
  process.on('SIGHUP', () => void stop(0));

  const stack = await starting;
  if (stopping) return;
  void (
    stack.redis
      ? stack.redis.waitExit()
      : stack.cluster
        ? Promise.race(stack.cluster.nodes.map((node) => node.waitExit()))
        : new Promise<void>(() => undefined)
  ).then(() => {
    if (stopping) return;
    process.stderr.write(
      stack.cluster
        ? `\na node of the embedded Redis Cluster stopped unexpectedly; stopping the rest. Start again with npm start -- --redis-cluster ${clusterMasters}.\n`
        : `\nthe embedded redis-server stopped unexpectedly; stopping the rest (its data is in ${shownDir}). Start again with npm start.\n`,
    );
    void stop(1);
  });
  for (const proc of [...stack.gateways, ...stack.workers]) {
    void proc.exited.then(({ code, signal }) => {
      if (stopping) return;
      process.stderr.write(
        `\n${proc.name} stopped unexpectedly (code ${code}, signal ${signal}); stopping the rest. Its last output:\n${proc.output(20)}\n`,
      );
      void stop(1);
    });
  }
  const lines = [
    '',
    `Pulse is up (${((Date.now() - started) / 1000).toFixed(1)} s):`,
    ...stack.urls.map((url, i) => `  dashboard ${i + 1}  ${url}/`),
    `  REST API     ${stack.urls[0]}/api/v1/topics`,
    `  redis        ${maskPasswords(stack.redisUrl)}${stack.redis ? ` (embedded, data in ${shownDir})` : stack.cluster ? ` (embedded cluster in ${shownDir}, new at each start)` : ''}`,
    demo ? '  demo fleet   12 instances on topic "demo" (PULSE_DEMO=0 turns it off)' : '  demo fleet   off',
    'Press Ctrl-C to stop everything.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => fail(`${(error as Error).message}`));

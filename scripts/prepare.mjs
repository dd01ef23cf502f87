// prestart/pretest: readies a checkout (npm ci if stale, redis-server present, build); built-ins only, as it runs before `npm ci`.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
const args = new Set(process.argv.slice(2));
const isWindows = process.platform === 'win32';

const log = (message) => console.log(`[prepare] ${message}`);

function fail(lines, code = 1) {
  for (const line of [].concat(lines)) console.error(`[prepare] ${line}`);
  process.exit(code);
}

/** Runs a command with inherited stdio; returns its exit code (or 1 if it could not start). */
function run(command, commandArgs, options = {}) {
  const result = spawnSync(command, commandArgs, {
    cwd: root,
    stdio: 'inherit',
    shell: isWindows, // npm is npm.cmd there
    ...options,
  });
  if (result.error) {
    console.error(`[prepare] could not run ${command}: ${result.error.message}`);
    return 1;
  }
  return result.status ?? 1;
}

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/** The first executable `name` on PATH or in the usual system folders, or null. */
function findBinary(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

// a. Dependencies: `npm ci` when node_modules is missing or older than package-lock.json.
function ensureDependencies() {
  const lock = mtime(join(root, 'package-lock.json'));
  const installed = mtime(join(root, 'node_modules', '.package-lock.json'));
  const stale = !existsSync(join(root, 'node_modules')) || installed === null || (lock !== null && installed < lock);
  if (!stale) return log('dependencies are up to date');
  log('installing dependencies (npm ci)…');
  if (run('npm', ['ci']) !== 0) {
    fail([
      'npm ci failed (see above). Usual causes: no access to the npm registry, or package-lock.json',
      'out of sync with package.json (run `npm install` and commit the lock). Then run `npm ci` and retry.',
    ]);
  }
}

// b. redis-server: needed for the embedded Redis of `npm start` and the tests, unless REDIS_URL points elsewhere.
function ensureRedis() {
  if (process.env.REDIS_URL) return log(`REDIS_URL is set: using ${redact(process.env.REDIS_URL)}`);
  const found = findBinary('redis-server');
  if (found) return log(`redis-server found at ${found}`);
  if (process.getuid?.() === 0 && findBinary('apt-get')) {
    log('redis-server is missing: installing it with apt-get (root)…');
    // Debian's package may also start a system redis on 6379; Pulse never relies on it.
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (run('apt-get', ['update'], { env }) !== 0 || run('apt-get', ['install', '-y', 'redis-server'], { env }) !== 0) {
      fail('apt-get could not install redis-server (see above).');
    }
    const installed = findBinary('redis-server');
    if (!installed) fail('redis-server is still not found after apt-get install.');
    return log(`redis-server installed at ${installed}`);
  }
  fail([
    'redis-server is not installed. Pulse starts its own Redis from it for `npm start` and the tests. Either:',
    '  Debian/Ubuntu:  sudo apt-get install -y redis-server',
    '  macOS:          brew install redis',
    '  or point Pulse at a running Redis:  REDIS_URL=redis://127.0.0.1:6379 npm start',
  ]);
}

/** The URL without its password, for printing. */
function redact(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

// c. Build (tsc, incremental: fast when nothing changed).
function build() {
  if (args.has('--no-build')) return log('skipping the build (--no-build)');
  log('building (npm run build)…');
  const code = run('npm', ['run', 'build', '--silent']);
  if (code !== 0) fail(['the build failed: fix the TypeScript errors above, then run `npm run build`.'], code);
}

ensureDependencies();
ensureRedis();
build();
log(`ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);

// npm run test:package: packs Pulse, installs the tarball into a fresh project and uses it there as a consumer would.
// The `pulse` bin, then (1) tsc --noEmit over the consumer's files, (2) its jest e2e suite (startPulse, SDK, publish,
// tick), (3) a Vite build of a page that imports the SDK. Everything happens in a temporary folder that is removed afterwards.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const template = join(root, 'test', 'consumer');
const started = Date.now();
const log = (message) => console.log(`[package] ${message}`);
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

const failures = [];

/**
 * Runs a command in `cwd`; a failure is recorded, and thrown if `fatal` (later steps need it). Its
 * output goes to ours, or with `quiet` only when it fails.
 */
function run(what, command, args, cwd, { fatal = true, quiet = false } = {}) {
  log(`${what}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, {
    cwd,
    stdio: quiet ? 'pipe' : 'inherit',
    encoding: 'utf8',
    shell: process.platform === 'win32',
  });
  if (result.status === 0) return;
  if (quiet) process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
  const failure = `${what} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}); see above`;
  if (fatal) throw new Error(failure);
  failures.push(failure);
}

/** The version of a dev tool this repository has installed: the consumer gets the same one, from the npm cache. */
function installed(name) {
  return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
}

const work = mkdtempSync(join(tmpdir(), 'pulse-consumer-'));
try {
  // prepack builds (incremental), so the tarball holds what the sources say.
  run('packing', 'npm', ['pack', '--silent', '--pack-destination', work], root);
  const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no .tgz in ${work}`);

  const project = join(work, 'consumer');
  cpSync(template, project, { recursive: true });
  const { name } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const tools = ['jest', '@jest/globals', '@swc/core', '@swc/jest', 'typescript', 'vite', '@types/node'];
  const consumer = {
    name: 'pulse-consumer',
    private: true,
    type: 'module',
    scripts: { test: 'node --experimental-vm-modules node_modules/jest/bin/jest.js' },
    dependencies: { [name]: `file:../${tarball}` },
    devDependencies: Object.fromEntries(tools.map((tool) => [tool, installed(tool)])),
  };
  writeFileSync(join(project, 'package.json'), `${JSON.stringify(consumer, null, 2)}\n`);

  log(`INSTALLING ${tarball} with ${tools.join(', ')} into a fresh project (${project}); this takes a while`);
  run('installing', 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], project);
  // The three checks are independent: each one runs, and each failure is reported.
  run('the pulse command', 'npx', ['--no-install', 'pulse', '--help'], project, { fatal: false, quiet: true });
  run('1/3 types', 'npx', ['--no-install', 'tsc', '--noEmit', '-p', 'tsconfig.json'], project, { fatal: false });
  run('2/3 jest e2e', 'npm', ['test', '--silent'], project, { fatal: false });
  run('3/3 browser build', 'npx', ['--no-install', 'vite', 'build', '--logLevel', 'warn'], project, { fatal: false });
} catch (error) {
  failures.push(error.message);
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (failures.length > 0) {
  for (const failure of failures) console.error(`[package] ${failure}`);
  console.error(`[package] the package does not work for a consumer (${seconds()})`);
  process.exit(1);
}
log(`the package works for a consumer (${seconds()})`);

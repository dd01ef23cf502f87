// The benchmark keeps working: `--smoke` runs every code path of `npm run bench` (A with batch and plain clients, fed through REST and by append; B and C; light load, ladder, catch-up, memory, report) in a tiny configuration.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { PROJECT_ROOT } from '#pulse/stack';

const out = mkdtempSync(join(tmpdir(), 'pulse-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Step {
  system: 'A' | 'B' | 'C';
  mode: 'batch' | 'plain';
  feed: string;
  producer: { failed: number; seqMismatches: number };
  phase: string;
  clients: number;
  deliveredPerSec: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  latency: { p50: number; p99: number } | null;
  eventsPerFrame: number;
}

it('runs the smoke bench: a well-formed report, every variant measured, every A run without loss, duplicate, reordering or failed send', async () => {
  const child = spawn(
    process.execPath,
    [join(PROJECT_ROOT, 'dist', 'bench', 'src', 'core.bench.js'), '--smoke', '--out', out],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect({ code, stderr: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });

  const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as {
    steps: Step[];
    catchUp: { system: string; lost: number; duplicates: number; currentMs: number | null }[];
    memory: { label: string }[];
  };
  const variants = new Set(
    results.steps.map((step) => (step.system === 'A' ? `A ${step.mode}/${step.feed}` : step.system)),
  );
  expect([...variants].sort()).toEqual(['A batch/append', 'A batch/rest', 'A plain/rest', 'B', 'C']);
  // Plain clients get one message per event; batch clients fewer frames than events, or as many.
  const plain = results.steps.filter((step) => step.system === 'A' && step.mode === 'plain');
  expect(plain.map((step) => step.eventsPerFrame)).toEqual(plain.map(() => 1));
  for (const step of results.steps) {
    expect(step.clients).toBeGreaterThan(0);
    expect(step.latency).not.toBeNull();
    expect(step.deliveredPerSec).toBeGreaterThan(0);
  }
  const a = results.steps.filter((step) => step.system === 'A');
  expect(
    a.map((step) => step.lost + step.duplicates + step.outOfOrder + step.producer.failed + step.producer.seqMismatches),
  ).toEqual(a.map(() => 0));
  const catchUp = results.catchUp.find((row) => row.system === 'A')!;
  expect(catchUp).toMatchObject({ lost: 0, duplicates: 0 });
  expect(catchUp.currentMs).not.toBeNull();
  // Plain subscribers, presence subscribers (they ask for viewer counts), the recipe.
  expect(results.memory.map((row) => row.label)).toEqual(['A', 'A presence', 'B']);

  const markdown = readFileSync(join(out, 'latest.md'), 'utf8');
  expect(markdown).toContain('## Targets');
  expect(markdown).toContain('## Light load');
  expect(markdown).toMatch(/\| 100 \| A plain\/rest \| \*\*\d/);
  expect(markdown).toMatch(/\| Zero loss, zero duplicates.*\| \*\*met\*\* \|/);
  for (const plot of ['latency-vs-rate.svg', 'throughput-vs-gateways.svg'])
    expect(readFileSync(join(out, plot), 'utf8')).toMatch(/^<svg [^]*<\/svg>\n$/);
}, 60_000);

// A chaos scenario's verdict: histories held against the log, a summary line on stdout, and the table of every scenario's last run.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '#pulse/stack';
import { checkHistories, summaryLine, type CheckOptions, type CheckResult } from './history.js';
import { LONG, type ChaosStack } from './stack.js';
import type { Subscriber } from './subscribers.js';

/** Checks the histories against the logs, prints the scenario's summary line and records it in the table. */
export async function verdict(
  scenario: string,
  stack: ChaosStack,
  subscribers: Subscriber[],
  options: CheckOptions & { extra?: string } = {},
): Promise<CheckResult> {
  const topics = [...new Set(subscribers.map((subscriber) => subscriber.topic))];
  const logs = await Promise.all(topics.map((topic) => stack.readLog(topic)));
  const result = checkHistories(
    subscribers.map((subscriber) => subscriber.history),
    logs,
    options,
  );
  report(scenario, result, options.extra);
  return result;
}

const ARTIFACTS = join(PROJECT_ROOT, 'test', 'artifacts');

/** Prints the summary line (jest may swallow console) and rewrites test/artifacts/chaos-summary.md from every scenario's last row. */
export function report(scenario: string, result: CheckResult, extra = ''): void {
  process.stdout.write(`${summaryLine(scenario, result.summary, extra)}\n`);
  const rows = join(ARTIFACTS, 'chaos');
  mkdirSync(rows, { recursive: true });
  const s = result.summary;
  const cells = [
    scenario,
    LONG ? 'long' : 'short',
    s.clients,
    s.events,
    s.gaps,
    s.duplicates,
    s.reorders,
    s.resyncs,
    s.missingSnapshots,
    s.mismatches,
    s.p50,
    s.p99,
    extra,
  ];
  writeFileSync(join(rows, `${scenario.replace(/[^a-z0-9-]+/gi, '_')}.md`), `| ${cells.join(' | ')} |\n`);
  const table = readdirSync(rows)
    .filter((file) => file.endsWith('.md'))
    .sort()
    .map((file) => readFileSync(join(rows, file), 'utf8'))
    .join('');
  const header =
    '| scenario | run | clients | events | gaps | duplicates | reorders | resyncs | missing snapshots | mismatches | p50 ms | p99 ms | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  writeFileSync(join(ARTIFACTS, 'chaos-summary.md'), `# Chaos suite summary\n\n${header}${table}`);
}

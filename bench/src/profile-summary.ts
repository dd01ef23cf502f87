// Reads a V8 .cpuprofile: self time per function (from samples and timeDeltas) and per package or source folder, mapped back to the TypeScript sources through dist's source maps.
import { readFileSync } from 'node:fs';
import { SourceMap, type SourceMapping } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeRow {
  function: string;
  /** `path:line` (TypeScript source when a source map knows it; else the file run; or a V8 category). */
  location: string;
  /** Package (`node_modules` name), `node:internal`, the project's folder, `(native)` for builtins and bindings, or `(V8)` for GC, program and idle. */
  owner: string;
  selfMs: number;
}

export interface ProfileSummary {
  /** Wall time the profile covers (ms). */
  totalMs: number;
  /** Of it, the thread idle (waiting in the event loop). */
  idleMs: number;
  functions: SelfTimeRow[];
  /** Self time per owner, the idle time left out. */
  owners: { owner: string; selfMs: number }[];
}

const V8_CATEGORIES = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** Lazily loaded source maps of the files a profile names. */
class SourceMaps {
  private readonly maps = new Map<string, SourceMap | null>();

  lookup(file: string, line: number, column: number): { file: string; line: number } | null {
    let map = this.maps.get(file);
    if (map === undefined) {
      try {
        map = new SourceMap(
          JSON.parse(readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0],
        );
      } catch {
        map = null;
      }
      this.maps.set(file, map);
    }
    const entry: Partial<SourceMapping> | undefined = map?.findEntry(line, column);
    if (!entry?.originalSource || entry.originalLine === undefined) return null;
    const source = entry.originalSource.startsWith('file:')
      ? fileURLToPath(entry.originalSource)
      : new URL(entry.originalSource, `file://${file}`).pathname;
    return { file: source, line: entry.originalLine + 1 };
  }
}

function ownerOf(path: string, root: string): string {
  if (path.startsWith('node:')) return 'node:internal';
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const parts = path.slice(modules + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const inProject = relative(root, path);
  if (!inProject.startsWith('..')) return inProject.split('/').slice(0, -1).join('/') || inProject;
  return path;
}

/** Self time per function and per owner; `root` makes paths relative (the project folder). */
export function summarizeProfile(profile: CpuProfile, root: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  // Sample i lasts until sample i + 1 (the last until the profile's end), as DevTools counts it.
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  const times = profile.timeDeltas.map((delta) => (at += delta));
  for (let i = 0; i < profile.samples.length; i++) {
    const duration = (i + 1 < times.length ? times[i + 1]! : profile.endTime) - times[i]!;
    if (duration > 0) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + duration);
  }
  const maps = new SourceMaps();
  const functions = new Map<string, SelfTimeRow>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber, columnNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') idleUs += us;
    let location: string;
    let owner: string;
    if (V8_CATEGORIES.has(functionName)) {
      location = owner = '(V8)';
    } else if (!url) {
      // A builtin or a native binding (writev, writeUtf8String: the write syscalls, which on loopback include the receiver's TCP work).
      location = owner = '(native)';
    } else {
      const path = url.startsWith('file:') ? fileURLToPath(url) : url;
      const mapped = path.startsWith('/') ? maps.lookup(path, lineNumber, columnNumber) : null;
      const file = mapped?.file ?? path;
      location = `${file.startsWith('/') ? relative(root, file) : file}:${mapped?.line ?? lineNumber + 1}`;
      owner = ownerOf(file, root);
    }
    const name = functionName || '(anonymous)';
    const key = `${name}\u0000${location}`;
    const row = functions.get(key) ?? { function: name, location, owner, selfMs: 0 };
    row.selfMs += us / 1000;
    functions.set(key, row);
  }
  const owners = new Map<string, number>();
  for (const row of functions.values())
    if (row.function !== '(idle)') owners.set(row.owner, (owners.get(row.owner) ?? 0) + row.selfMs);
  return {
    totalMs: (profile.endTime - profile.startTime) / 1000,
    idleMs: idleUs / 1000,
    functions: [...functions.values()].sort((x, y) => y.selfMs - x.selfMs),
    owners: [...owners].map(([owner, selfMs]) => ({ owner, selfMs })).sort((x, y) => y.selfMs - x.selfMs),
  };
}

/** Markdown: the top self-time functions and owners; % of the busy (not idle) time. */
export function renderProfile(title: string, summary: ProfileSummary, top = 30): string[] {
  const busy = summary.totalMs - summary.idleMs;
  const pct = (msValue: number) => `${((msValue / busy) * 100).toFixed(1)} %`;
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  return [
    `### ${title}`,
    '',
    `Profile covers ${(summary.totalMs / 1000).toFixed(1)} s; the main thread was busy ${(busy / 1000).toFixed(2)} s (${((busy / summary.totalMs) * 100).toFixed(0)} %), idle the rest. % = share of the busy time.`,
    '',
    '| Function | File:line | Self ms | % |',
    '|---|---|--:|--:|',
    ...summary.functions
      .filter((row) => row.function !== '(idle)')
      .slice(0, top)
      .map(
        (row) =>
          `| \`${cell(row.function)}\` | ${cell(row.location)} | ${row.selfMs.toFixed(1)} | ${pct(row.selfMs)} |`,
      ),
    '',
    '| Package or folder | Self ms | % |',
    '|---|--:|--:|',
    ...summary.owners
      .slice(0, 15)
      .map((row) => `| ${cell(row.owner)} | ${row.selfMs.toFixed(1)} | ${pct(row.selfMs)} |`),
  ];
}

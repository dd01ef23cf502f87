// CPU time and memory of processes, read from /proc (Linux): what each part of a run cost.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system, ms) the process has used so far, all its threads together; null when it is gone. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Resident memory of the process (bytes); null when it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The processes of one measurement, by role (several pids per role are summed). */
export type Roles = Record<string, number[]>;

/** Samples every role's CPU time now; `delta` gives what each used since. */
export class CpuMeter {
  private readonly start: Record<string, number>;
  private readonly startedAt = performance.now();

  constructor(private readonly roles: Roles) {
    this.start = CpuMeter.sample(roles);
  }

  private static sample(roles: Roles): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [role, pids] of Object.entries(roles)) out[role] = pids.reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0);
    return out;
  }

  /** CPU ms per role since construction, and the wall time (ms) it covers. */
  delta(): { wallMs: number; cpuMs: Record<string, number> } {
    const end = CpuMeter.sample(this.roles);
    const cpu: Record<string, number> = {};
    for (const role of Object.keys(this.roles)) cpu[role] = end[role]! - this.start[role]!;
    return { wallMs: performance.now() - this.startedAt, cpuMs: cpu };
  }
}

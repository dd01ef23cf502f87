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

/**
 * Times the process's main thread (Node's event loop, Redis's) went to sleep so far: its voluntary
 * context switches. At light load each is a wake to come, and on a VM a wake costs CPU of its own
 * (an empty Node timer wake measured 138-159 µs here). Null when the process is gone.
 */
export function sleeps(pid: number): number | null {
  try {
    const match = /\nvoluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
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

/** Samples every role's CPU time and sleeps now; `delta` gives what each used since. */
export class CpuMeter {
  private readonly start: { cpuMs: Record<string, number>; sleeps: Record<string, number> };
  private readonly startedAt = performance.now();

  constructor(private readonly roles: Roles) {
    this.start = CpuMeter.sample(roles);
  }

  private static sample(roles: Roles): { cpuMs: Record<string, number>; sleeps: Record<string, number> } {
    const sum = (pids: number[], read: (pid: number) => number | null) =>
      pids.reduce((total, pid) => total + (read(pid) ?? 0), 0);
    const cpu: Record<string, number> = {};
    const slept: Record<string, number> = {};
    for (const [role, pids] of Object.entries(roles)) {
      cpu[role] = sum(pids, cpuMs);
      slept[role] = sum(pids, sleeps);
    }
    return { cpuMs: cpu, sleeps: slept };
  }

  /** CPU ms and main-thread sleeps per role since construction, and the wall time (ms) it covers. */
  delta(): { wallMs: number; cpuMs: Record<string, number>; sleeps: Record<string, number> } {
    const end = CpuMeter.sample(this.roles);
    const cpu: Record<string, number> = {};
    const slept: Record<string, number> = {};
    for (const role of Object.keys(this.roles)) {
      cpu[role] = end.cpuMs[role]! - this.start.cpuMs[role]!;
      slept[role] = end.sleeps[role]! - this.start.sleeps[role]!;
    }
    return { wallMs: performance.now() - this.startedAt, cpuMs: cpu, sleeps: slept };
  }
}

/**
 * Why: on a shared machine requests/s move with whatever else runs, but the CPU time a server
 * spends per request moves much less: it is what the server costs, whoever else competes for the
 * cores. The suites read it from Linux's /proc (user and system time of a process and all its
 * descendants, e.g. a forwarder's workers) before and after each run. Elsewhere it reads NaN.
 * The two are kept apart because they answer different questions: system time is the kernel's
 * share (socket reads and writes), about the same for every forwarder moving the same bytes;
 * user time is what the program itself adds on top, where Node and C servers differ.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim();
    const parsed = Number(out);
    ticksPerSecond = Number.isInteger(parsed) && parsed > 0 ? parsed : 100;
  }
  return ticksPerSecond;
}

/**
 * `[ppid, user ticks, system ticks]` of a process from `/proc/<pid>/stat`: its own time plus that
 * of its children it has waited for (socat's per-connection processes once they exit).
 */
function stat(pid: number): [number, number, number] | undefined {
  try {
    const text = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after its ')' are space-separated.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the name: state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17), i.e.
    // indexes 1 and 11 to 14 here.
    const user = Number(fields[11]) + Number(fields[13]);
    const system = Number(fields[12]) + Number(fields[14]);
    return [Number(fields[1]), user, system];
  } catch {
    return undefined;
  }
}

/** CPU time of a process tree, in seconds, split as the kernel accounts it. */
export interface CpuTimes {
  /** Time running the program's own code (and its libraries). */
  readonly user: number;
  /** Time in the kernel on its behalf: system calls (socket reads and writes) and faults. */
  readonly system: number;
}

const UNMEASURED: CpuTimes = { user: NaN, system: NaN };

/** CPU time used so far by `pid` and its living descendants; NaN off Linux. */
export function treeCpuTimes(pid: number | undefined): CpuTimes {
  if (pid === undefined || process.platform !== 'linux') return UNMEASURED;
  const parents = new Map<number, number>();
  const ticks = new Map<number, [number, number]>();
  for (const entry of readdirSync('/proc')) {
    const id = Number(entry);
    if (!Number.isInteger(id)) continue;
    const found = stat(id);
    if (found === undefined) continue;
    parents.set(id, found[0]);
    ticks.set(id, [found[1], found[2]]);
  }
  if (!ticks.has(pid)) return UNMEASURED;
  let user = 0;
  let system = 0;
  for (const [id, used] of ticks) {
    let cursor: number | undefined = id;
    while (cursor !== undefined && cursor > 1 && cursor !== pid) cursor = parents.get(cursor);
    if (cursor === pid) {
      user += used[0];
      system += used[1];
    }
  }
  return { user: user / clockTicks(), system: system / clockTicks() };
}

/** The CPU time spent between two readings of {@link treeCpuTimes}. */
export function cpuTimesBetween(before: CpuTimes, after: CpuTimes): CpuTimes {
  return { user: after.user - before.user, system: after.system - before.system };
}

/**
 * Why: on a shared machine requests/s move with whatever else runs, but the CPU time a server
 * spends per request moves much less: it is what the server costs, whoever else competes for the
 * cores. The suites read it from Linux's /proc (user + system time of a process and all its
 * descendants, e.g. a forwarder's workers) before and after each run. Elsewhere it reads NaN.
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
 * `[ppid, CPU ticks]` of a process from `/proc/<pid>/stat`: its own user and system time plus
 * that of its children it has waited for (socat's per-connection processes once they exit).
 */
function stat(pid: number): [number, number] | undefined {
  try {
    const text = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after its ')' are space-separated.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the name: state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17), i.e.
    // indexes 1 and 11 to 14 here.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    return [Number(fields[1]), ticks];
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) used so far by `pid` and its living descendants; NaN off Linux. */
export function treeCpuSeconds(pid: number | undefined): number {
  if (pid === undefined || process.platform !== 'linux') return NaN;
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const id = Number(entry);
    if (!Number.isInteger(id)) continue;
    const found = stat(id);
    if (found === undefined) continue;
    parents.set(id, found[0]);
    ticks.set(id, found[1]);
  }
  if (!ticks.has(pid)) return NaN;
  let total = 0;
  for (const [id, used] of ticks) {
    let cursor: number | undefined = id;
    while (cursor !== undefined && cursor > 1 && cursor !== pid) cursor = parents.get(cursor);
    if (cursor === pid) total += used;
  }
  return total / clockTicks();
}

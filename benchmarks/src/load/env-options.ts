/**
 * Why: the load suites' sizes (duration, rounds, request counts) default to what their goals
 * are stated in, but a quick local check wants them smaller. Each is read from one environment
 * variable, validated like any other option, and printed in the suite's method line.
 */

/** The integer in `process.env[name]`, or `fallback` when unset; throws a RangeError otherwise. */
export function envInteger(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${name} must be an integer from ${String(min)} to ${String(max)}, got ${raw}`,
    );
  }
  return value;
}

/** Node flags that write a CPU profile of the server `name` when `BENCH_CPU_PROF` (comma-separated) names it. */
export function profileFlags(name: string, dir: string): string[] {
  const wanted = (process.env['BENCH_CPU_PROF'] ?? '').split(',').filter((w) => w !== '');
  if (!wanted.some((w) => name.includes(w))) return [];
  console.log(`profiling ${name}: --cpu-prof into ${dir}`);
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

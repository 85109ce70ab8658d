/**
 * Why: some claims are about memory, not time ("10 000 keyed breakers cost 10× less than 10 000
 * opossum breakers"). A memory suite builds N instances per case, in a fresh heap state, and
 * reports the retained heap per instance (after forced garbage collection) as a ratio to a
 * baseline case, the same way the timing suites report time.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';

/** A memory suite: each case builds `count` instances and returns them (so they stay alive). */
export interface MemorySuite {
  /** Always `memory`; tells the runner how to measure this suite. */
  readonly kind: 'memory';
  /** Suite name; also the name of its results file. */
  readonly name: string;
  /** The case every other case is compared with. */
  readonly baseline: string;
  /** How many instances each case builds. */
  readonly count: number;
  /** Builds `count` instances and returns something that holds them all. */
  readonly cases: Readonly<Record<string, (count: number) => unknown>>;
  /** Largest acceptable `case bytes / baseline bytes`, by case name. */
  readonly targets?: readonly { readonly case: string; readonly maxRatio: number }[];
}

/** One row of a memory suite's results. */
export interface MemoryCaseResult {
  readonly name: string;
  /** Retained heap per instance, in bytes (median of the rounds). */
  readonly bytesPerInstance: number;
  /** `bytesPerInstance / baseline's`: below 1 is smaller than the baseline. */
  readonly ratio: number;
}

/** Checks a memory suite's names and returns it unchanged. */
export function defineMemorySuite(suite: Omit<MemorySuite, 'kind'>): MemorySuite {
  const names = Object.keys(suite.cases);
  for (const name of [suite.baseline, ...(suite.targets ?? []).map((t) => t.case)]) {
    if (!names.includes(name)) throw new Error(`suite ${suite.name}: no case named "${name}"`);
  }
  return { kind: 'memory', ...suite };
}

const ROUNDS = 5;

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('memory suites need node --expose-gc');
  gc();
  gc();
}

function bytesFor(build: (count: number) => unknown, count: number): number {
  collect();
  const before = process.memoryUsage().heapUsed;
  let held: unknown = build(count);
  collect();
  const after = process.memoryUsage().heapUsed;
  // Keep `held` alive until after the measurement, then drop it.
  if (held === undefined) throw new Error('a memory case must return what it built');
  held = undefined;
  return (after - before) / count;
}

/** Measures every case and prints a table; writes `results/<suite>.json`. */
export async function runMemorySuite(suite: MemorySuite, resultsDir: URL): Promise<void> {
  const samples = new Map<string, number[]>();
  const entries = Object.entries(suite.cases);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, build] of entries) {
      const list = samples.get(name) ?? [];
      list.push(bytesFor(build, suite.count));
      samples.set(name, list);
    }
  }
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[sorted.length >> 1] ?? NaN;
  };
  const base = median(samples.get(suite.baseline) ?? []);
  const cases: MemoryCaseResult[] = entries.map(([name]) => {
    const bytesPerInstance = median(samples.get(name) ?? []);
    return { name, bytesPerInstance, ratio: bytesPerInstance / base };
  });
  const targets = (suite.targets ?? []).map((t) => {
    const ratio = cases.find((c) => c.name === t.case)?.ratio ?? NaN;
    return { ...t, ratio, met: ratio <= t.maxRatio };
  });
  const width = Math.max(4, ...cases.map((c) => c.name.length));
  const lines = [
    `suite ${suite.name}  (${process.version}, ${cpus()[0]?.model ?? 'unknown'}, ${String(suite.count)} instances per case)`,
    `${'case'.padEnd(width)}  bytes/instance  × baseline`,
    ...cases.map(
      (c) =>
        `${c.name.padEnd(width)}  ${c.bytesPerInstance.toFixed(0).padStart(14)}  ${
          c.name === suite.baseline ? '1.00 (baseline)' : c.ratio.toFixed(3).padStart(10)
        }`,
    ),
    ...targets.map(
      (t) =>
        `target: ${t.case} ≤ ${t.maxRatio.toFixed(2)}× baseline: ${t.ratio.toFixed(3)}× → ${t.met ? 'met' : 'MISSED'}`,
    ),
  ];
  console.log(lines.join('\n'));
  await mkdir(resultsDir, { recursive: true });
  const file = new URL(`${suite.name}.json`, resultsDir);
  const result = {
    suite: suite.name,
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    count: suite.count,
    rounds: ROUNDS,
    ratioDefinition: 'case bytes per instance / baseline bytes per instance (below 1: smaller)',
    cases,
    targets,
  };
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`→ ${file.pathname}\n`);
}

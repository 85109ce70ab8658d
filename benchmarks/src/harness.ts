/**
 * Why: absolute timings from a shared, noisy machine say little; the ratio of two cases measured
 * side by side on the same machine says a lot. This harness measures each case of a suite with
 * mitata, reduces it to a median, divides by the suite's baseline, prints a plain table and
 * writes the numbers to `results/<suite>.json`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { measure } from 'mitata';

/** A measured operation. An async case is awaited on every iteration. */
export type BenchCase = () => unknown;

/** A claim to check against the measured ratios, e.g. "at most 1.5× the bare call's time". */
export interface Target {
  /** The case the target is about. */
  readonly case: string;
  /** Largest acceptable `case time / baseline time`; `0.2` means "5× faster than baseline". */
  readonly maxRatio: number;
  /** Compare with this case instead of the row's baseline. */
  readonly against?: string;
}

/** The cases a row is compared with. */
export interface References {
  /** The case this row's time is divided by. */
  readonly baseline?: string;
  /** The unwrapped call: the table shows this row's time over it (what the wrapper costs). */
  readonly bare?: string;
}

/** A group of cases measured together and compared with one of them. */
export interface Suite extends References {
  /** Suite name; also the name of its results file. */
  readonly name: string;
  /** The case every other case is compared with, unless `overrides` says otherwise. */
  readonly baseline: string;
  /** The cases, in display order. */
  readonly cases: Readonly<Record<string, BenchCase>>;
  /** Rows compared with other cases than the suite's `baseline` and `bare` (by case name). */
  readonly overrides?: Readonly<Record<string, References>>;
  /** Targets to report as met or missed; a target's ratio is against its case's baseline. */
  readonly targets?: readonly Target[];
  /**
   * How many calls each case makes per iteration (default 1); times are reported per call.
   * Looping inside a case spreads the harness's own per-iteration cost (awaiting the case's
   * promise, reading the clock) over many calls, so the table shows what a call costs.
   */
  readonly callsPerIteration?: number;
}

/** One row of a suite's results. */
export interface CaseResult {
  readonly name: string;
  readonly baseline: string;
  /** Median time per call in nanoseconds (median over rounds of mitata's p50, per call). */
  readonly medianNs: number;
  /** `medianNs / baseline's medianNs`: below 1 is faster than the baseline. */
  readonly ratio: number;
  /** `medianNs` minus the bare call's, when the suite names one. */
  readonly overheadNs?: number;
}

/** What `results/<suite>.json` holds. */
export interface SuiteResult {
  readonly suite: string;
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  readonly ratioDefinition: string;
  readonly rounds: number;
  readonly callsPerIteration: number;
  readonly cases: readonly CaseResult[];
  readonly targets: readonly (Target & {
    readonly against: string;
    readonly ratio: number;
    readonly met: boolean;
  })[];
}

/**
 * Each case is measured this many times, interleaved with the others and starting each round
 * one case further on, so that no case always runs in the same position; the median is kept.
 */
const ROUNDS = 5;
/** mitata's time budget for one measurement of one case, in nanoseconds. */
const MIN_CPU_TIME_NS = 300e6;
/** Calls made to every case before any is measured, so shared code is warmed for all of them. */
const WARMUP_CALLS = 10_000;

/** Checks a suite's names and returns it unchanged; suite files default-export the result. */
export function defineSuite(suite: Suite): Suite {
  const names = Object.keys(suite.cases);
  const referenced = [suite, ...Object.values(suite.overrides ?? {})].flatMap((r) => [
    r.baseline,
    r.bare,
  ]);
  const overridden = Object.keys(suite.overrides ?? {});
  const targeted = (suite.targets ?? []).flatMap((t) => [t.case, t.against]);
  for (const name of [...referenced, ...overridden, ...targeted]) {
    if (name === undefined) continue;
    if (!names.includes(name)) throw new Error(`suite ${suite.name}: no case named "${name}"`);
  }
  return suite;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const hi = sorted[mid] ?? NaN;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? NaN) + hi) / 2;
}

/** Measures every case of `suite` and returns medians and ratios (does not print). */
export async function measureSuite(suite: Suite): Promise<SuiteResult> {
  const entries = Object.entries(suite.cases);
  const calls = suite.callsPerIteration ?? 1;
  for (const [, fn] of entries) {
    for (let i = 0; i < WARMUP_CALLS / calls; i++) await fn();
  }
  const samples = new Map<string, number[]>(entries.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const start = round % entries.length;
    for (const [name, fn] of [...entries.slice(start), ...entries.slice(0, start)]) {
      const stats = await measure(fn, { min_cpu_time: MIN_CPU_TIME_NS });
      samples.get(name)?.push(stats.p50);
    }
  }
  const medians = new Map([...samples].map(([name, values]) => [name, median(values) / calls]));
  const cases = entries.map(([name]): CaseResult => {
    const refs = suite.overrides?.[name];
    const baseline = refs?.baseline ?? suite.baseline;
    const bareName = refs?.bare ?? suite.bare;
    const medianNs = medians.get(name) ?? NaN;
    const ratio = medianNs / (medians.get(baseline) ?? NaN);
    const bare = bareName === undefined ? undefined : medians.get(bareName);
    return bare === undefined
      ? { name, baseline, medianNs, ratio }
      : { name, baseline, medianNs, ratio, overheadNs: medianNs - bare };
  });
  const targets = (suite.targets ?? []).map((target) => {
    const row = cases.find((c) => c.name === target.case);
    const against = target.against ?? row?.baseline ?? suite.baseline;
    const ratio = (row?.medianNs ?? NaN) / (medians.get(against) ?? NaN);
    return { ...target, against, ratio, met: ratio <= target.maxRatio };
  });
  return {
    suite: suite.name,
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    ratioDefinition: 'case median time / baseline median time (below 1: faster than the baseline)',
    rounds: ROUNDS,
    callsPerIteration: calls,
    cases,
    targets,
  };
}

/** Renders a result as a plain-text table followed by its targets. */
export function formatSuite(result: SuiteResult): string {
  const header = ['case', 'p50 ns/call', 'ns over bare', '× baseline time', 'baseline'];
  const rows = result.cases.map((c) => [
    c.name,
    c.medianNs.toFixed(1),
    c.overheadNs === undefined ? '' : c.overheadNs.toFixed(1),
    c.name === c.baseline ? '1.00 (baseline)' : c.ratio.toFixed(2),
    c.baseline,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) =>
        i >= 1 && i <= 3 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const out = [
    `suite ${result.suite}  (${result.node}, ${result.cpu}, ${result.callsPerIteration} calls per iteration)`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  for (const t of result.targets) {
    const verdict = t.met ? 'met' : 'MISSED';
    out.push(
      `target: ${t.case} ≤ ${t.maxRatio.toFixed(2)}× ${t.against}: ${t.ratio.toFixed(2)}× → ${verdict}`,
    );
  }
  return out.join('\n');
}

/** Writes `result` to `<dir>/<suite>.json` and returns the file's path. */
export async function writeSuiteResult(result: SuiteResult, dir: URL): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = new URL(`${result.suite}.json`, dir);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file.pathname;
}

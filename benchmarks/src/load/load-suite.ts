/**
 * Why: the proxy and forwarder claims are about load ("1.5× the requests per second of
 * @fastify/reply-from with a p99 no worse"), not about the time of one call, so they do not fit
 * the mitata harness. A load suite starts its own servers, drives them with a load generator and
 * returns tables of requests/s, latency percentiles and errors plus the targets, each a ratio
 * of two targets measured side by side in the same run. This file holds that result shape, the
 * runner that prints and writes it (`results/<suite>.json`, rendered by
 * scripts/render-benchmarks.mjs) and `defineLoadSuite`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';

/** One column of a load table: a key into each row's values, its heading and its precision. */
export interface LoadColumn {
  /** Key of the value in {@link LoadRow.values}. */
  readonly key: string;
  /** Heading shown in the table. */
  readonly label: string;
  /** Digits after the decimal point when printed. */
  readonly decimals: number;
}

/** One measured target (a server, a proxy) of a load table. */
export interface LoadRow {
  /** Target name, e.g. `proxykit proxy` or `HAProxy 2.6 (nbthread 1)`. */
  readonly name: string;
  /** Measured values by column key; `null` when not measured (the peer was unavailable). */
  readonly values: Readonly<Record<string, number | null>>;
  /** Why a row has no values, or anything else a reader must know about it. */
  readonly note?: string;
}

/** A table of a load suite: rows of the same measurement. */
export interface LoadTable {
  /** Heading, e.g. `HTTP keep-alive load, 50 connections`. */
  readonly title: string;
  /** Columns, in display order. */
  readonly columns: readonly LoadColumn[];
  /** Column whose values the rendered page draws as bars (higher is longer). */
  readonly barColumn?: string;
  /** Rows, in display order. */
  readonly rows: readonly LoadRow[];
}

/** A claim checked against the run: `case`'s metric over `against`'s, compared with `goal`. */
export interface LoadTarget {
  /** The row the claim is about. */
  readonly case: string;
  /** The row it is compared with. */
  readonly against: string;
  /** What is compared, e.g. `requests/s` or `p99 latency`. */
  readonly metric: string;
  /** `≥` when more is better (throughput), `≤` when less is (latency). */
  readonly comparison: '≥' | '≤';
  /** The ratio to reach. */
  readonly goal: number;
  /** `case`'s value / `against`'s value in this run; NaN when either was not measured. */
  readonly ratio: number;
  /** Whether the ratio reached the goal (and both rows ran without errors). */
  readonly met: boolean;
  /** Why it is not met although the ratio is, e.g. errors during the run. */
  readonly note?: string;
}

/** What `results/<suite>.json` holds for a load suite. */
export interface LoadSuiteResult {
  readonly suite: string;
  /** Always `load`: tells scripts/render-benchmarks.mjs how to render the file. */
  readonly kind: 'load';
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  /** Cores Node sees; the load generator, the proxies and the upstream share them. */
  readonly cores: number;
  /** How the suite measured, in one or two sentences (load generator, duration, rounds). */
  readonly method: string;
  readonly tables: readonly LoadTable[];
  readonly targets: readonly LoadTarget[];
  /** Further remarks: peers that could not run, spread between rounds. */
  readonly notes: readonly string[];
}

/** The part of a result a load suite computes; the runner adds the date, Node and CPU. */
export type LoadMeasurement = Pick<LoadSuiteResult, 'method' | 'tables' | 'targets' | 'notes'>;

/** A load suite: `run` starts what it needs, measures, stops everything and returns tables. */
export interface LoadSuite {
  /** Always `load`: tells the runner how to measure this suite. */
  readonly kind: 'load';
  /** Suite name; also the name of its results file. */
  readonly name: string;
  /** Measures; must stop every process and server it started, also when it throws. */
  readonly run: () => Promise<LoadMeasurement>;
}

/** Returns a load suite; suite files default-export the result. */
export function defineLoadSuite(suite: Omit<LoadSuite, 'kind'>): LoadSuite {
  return { kind: 'load', ...suite };
}

/** `key` of the row named `a` divided by `key` of the row named `b`; NaN when either is missing. */
export function rowRatio(table: LoadTable, a: string, b: string, key: string): number {
  const value = (name: string): number =>
    table.rows.find((r) => r.name === name)?.values[key] ?? NaN;
  return value(a) / value(b);
}

/** Builds a target from two rows of `table`, taking `key` from each. */
export function compareRows(
  table: LoadTable,
  options: {
    readonly case: string;
    readonly against: string;
    readonly key: string;
    readonly metric: string;
    readonly comparison: '≥' | '≤';
    readonly goal: number;
    /** Keys whose value must be 0 in both rows for the target to count as met (errors). */
    readonly mustBeZero?: readonly string[];
  },
): LoadTarget {
  const row = (name: string): LoadRow | undefined => table.rows.find((r) => r.name === name);
  const ours = row(options.case);
  const theirs = row(options.against);
  const ratio = rowRatio(table, options.case, options.against, options.key);
  const reached = options.comparison === '≥' ? ratio >= options.goal : ratio <= options.goal;
  const failing = (options.mustBeZero ?? []).filter((key) =>
    [ours, theirs].some((r) => (r?.values[key] ?? 0) !== 0),
  );
  const base = {
    case: options.case,
    against: options.against,
    metric: options.metric,
    comparison: options.comparison,
    goal: options.goal,
    ratio,
  };
  return failing.length === 0
    ? { ...base, met: reached }
    : { ...base, met: false, note: `not counted: ${failing.join(', ')} not 0` };
}

function formatValue(value: number | null | undefined, decimals: number): string {
  return value === null || value === undefined || Number.isNaN(value)
    ? '—'
    : value.toFixed(decimals);
}

/** Renders a result as plain-text tables followed by its targets and notes. */
export function formatLoadSuite(result: LoadSuiteResult): string {
  const out = [
    `suite ${result.suite}  (${result.node}, ${result.cpu}, ${String(result.cores)} cores)`,
    result.method,
  ];
  for (const table of result.tables) {
    const header = ['target', ...table.columns.map((c) => c.label)];
    const rows = table.rows.map((r) => [
      r.name,
      ...table.columns.map((c) => formatValue(r.values[c.key], c.decimals)),
      r.note ?? '',
    ]);
    const widths = header.map((h, i) =>
      Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)),
    );
    const line = (cells: readonly string[]): string =>
      cells
        .map((cell, i) =>
          i === 0 || i > table.columns.length
            ? cell.padEnd(widths[i] ?? 0)
            : cell.padStart(widths[i] ?? 0),
        )
        .join('  ')
        .trimEnd();
    out.push('', table.title, line(header), line(widths.map((w) => '-'.repeat(w))));
    out.push(...rows.map(line));
  }
  out.push('');
  for (const t of result.targets) out.push(`target: ${describeTarget(t)}`);
  for (const note of result.notes) out.push(`note: ${note}`);
  return out.join('\n');
}

/** One line per target: the claim, the measured ratio, the verdict. */
export function describeTarget(t: LoadTarget): string {
  const verdict = t.met ? 'met' : 'MISSED';
  const note = t.note === undefined ? '' : ` (${t.note})`;
  return `${t.case} ${t.metric} ${t.comparison} ${t.goal.toFixed(2)}× ${t.against}: ${formatValue(t.ratio, 2)}× → ${verdict}${note}`;
}

/** Runs `suite`, prints its tables and writes `<resultsDir>/<suite>.json`. */
export async function runLoadSuite(suite: LoadSuite, resultsDir: URL): Promise<void> {
  const measured = await suite.run();
  const result: LoadSuiteResult = {
    suite: suite.name,
    kind: 'load',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    ...measured,
  };
  console.log(formatLoadSuite(result));
  await mkdir(resultsDir, { recursive: true });
  const file = new URL(`${suite.name}.json`, resultsDir);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`→ ${file.pathname}\n`);
}

/**
 * Why: one entry point for `pnpm bench`. It loads every suite file under `suites/`, keeps those
 * whose name contains one of the command-line arguments (all when there are none), measures
 * them one after another, prints their tables and writes `results/<suite>.json`.
 *
 * Usage: `tsx src/run.ts [filter ...]`, e.g. `pnpm --filter @proxykit/benchmarks run bench core-timeout`.
 */
import { readdir } from 'node:fs/promises';
import { formatSuite, measureSuite, type Suite, writeSuiteResult } from './harness.js';

const suitesDir = new URL('./suites/', import.meta.url);
const resultsDir = new URL('../results/', import.meta.url);

/** Imports every suite file (`*.ts`, `*.js`) and returns their default-exported suites. */
async function loadSuites(): Promise<Suite[]> {
  const files = (await readdir(suitesDir)).filter(
    (f) => /\.[jt]s$/.test(f) && !f.endsWith('.d.ts'),
  );
  const suites: Suite[] = [];
  for (const file of files.sort()) {
    const module = (await import(new URL(file, suitesDir).href)) as { default?: Suite };
    if (module.default === undefined) throw new Error(`${file}: no default-exported suite`);
    suites.push(module.default);
  }
  return suites;
}

const filters = process.argv.slice(2).filter((arg) => arg !== '--');
const selected = (await loadSuites()).filter(
  (suite) => filters.length === 0 || filters.some((f) => suite.name.includes(f)),
);
if (selected.length === 0) {
  console.error(`no suite matches ${filters.join(', ')}`);
  process.exitCode = 1;
}
console.log(`@proxykit/core from ${import.meta.resolve('@proxykit/core')}\n`);
for (const suite of selected) {
  const result = await measureSuite(suite);
  console.log(formatSuite(result));
  console.log(`→ ${await writeSuiteResult(result, resultsDir)}\n`);
}

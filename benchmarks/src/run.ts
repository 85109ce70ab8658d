/**
 * Why: one entry point for `pnpm bench`. It loads every suite file under `suites/`, keeps those
 * whose name contains one of the command-line arguments (all when there are none) and measures
 * each in a fresh child process, so one suite's garbage and JIT state cannot skew the next (they
 * did: a cockatiel timeout case measured nearly 2× slower after the other suites than alone).
 * Each child prints its table and writes `results/<suite>.json`. Load suites (`load/load-suite.ts`)
 * start their own servers in further child processes and drive them with a load generator.
 *
 * Usage: `tsx --expose-gc src/run.ts [filter ...]`, e.g.
 * `pnpm --filter @proxykit/benchmarks run bench core-timeout`.
 */
import { spawnSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { formatSuite, measureSuite, type Suite, writeSuiteResult } from './harness.js';
import { type LoadSuite, runLoadSuite } from './load/load-suite.js';
import { type MemorySuite, runMemorySuite } from './memory-harness.js';

const CHILD_FLAG = '--suite';
const suitesDir = new URL('./suites/', import.meta.url);
const resultsDir = new URL('../results/', import.meta.url);

/** Imports every suite file (`*.ts`, `*.js`) and returns their default-exported suites. */
async function loadSuites(): Promise<(Suite | MemorySuite | LoadSuite)[]> {
  const files = (await readdir(suitesDir)).filter(
    (f) => /\.[jt]s$/.test(f) && !f.endsWith('.d.ts'),
  );
  const suites: (Suite | MemorySuite | LoadSuite)[] = [];
  for (const file of files.sort()) {
    const module = (await import(new URL(file, suitesDir).href)) as {
      default?: Suite | MemorySuite | LoadSuite;
    };
    if (module.default === undefined) throw new Error(`${file}: no default-exported suite`);
    suites.push(module.default);
  }
  return suites;
}

const args = process.argv.slice(2).filter((arg) => arg !== '--');
const suites = await loadSuites();

if (args[0] === CHILD_FLAG) {
  // Child: measure exactly one suite.
  const suite = suites.find((s) => s.name === args[1]);
  if (suite === undefined) throw new Error(`no suite named ${String(args[1])}`);
  if ('kind' in suite && suite.kind === 'load') {
    await runLoadSuite(suite, resultsDir);
  } else if ('kind' in suite) {
    await runMemorySuite(suite, resultsDir);
  } else {
    const result = await measureSuite(suite);
    console.log(formatSuite(result));
    console.log(`→ ${await writeSuiteResult(result, resultsDir)}\n`);
  }
} else {
  const selected = suites.filter((s) => args.length === 0 || args.some((f) => s.name.includes(f)));
  if (selected.length === 0) {
    console.error(`no suite matches ${args.join(', ')}`);
    process.exitCode = 1;
  }
  console.log(`@proxykit/core from ${import.meta.resolve('@proxykit/core')}\n`);
  const self = fileURLToPath(import.meta.url);
  for (const suite of selected) {
    // execArgv carries tsx's loader and --expose-gc over to the child.
    const child = spawnSync(process.execPath, [...process.execArgv, self, CHILD_FLAG, suite.name], {
      stdio: 'inherit',
    });
    if (child.status !== 0) process.exitCode = 1;
  }
}

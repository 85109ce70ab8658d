// Why: `pnpm bench proxy` must run only the suites named on its command line, then render
// docs/benchmarks.md. A package script cannot place its arguments in the middle of a command, so
// this forwards them to the benchmarks package's runner (which measures each suite in its own
// process) and renders the page afterwards, even when a suite failed, from whatever results exist.
import { spawnSync } from 'node:child_process';
import { repoRoot } from './workspace.mjs';

const filters = process.argv.slice(2).filter((arg) => arg !== '--');
const pnpm = process.env.npm_execpath;
const [command, prefix] = pnpm ? [process.execPath, [pnpm]] : ['pnpm', []];
const options = { cwd: repoRoot, stdio: 'inherit' };

const bench = spawnSync(
  command,
  [...prefix, '--filter', '@proxykit/benchmarks', 'run', 'bench', ...filters],
  options,
);
const render = spawnSync(process.execPath, ['scripts/render-benchmarks.mjs'], options);
process.exitCode = bench.status || render.status || (bench.error || render.error ? 1 : 0);

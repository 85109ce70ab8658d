// Why: the workspace resolves @proxykit/* to source through tsconfig paths and symlinks, so
// nothing else tests what a user actually installs. This packs every publishable package under
// packages/* with `pnpm pack` (which rewrites `workspace:` ranges to real versions), installs all
// the tarballs together into a throwaway npm project, and checks that each package can be
// require()d, imported and type-checked (as ESM and as CJS, strict, skipLibCheck off) from there.
//
// Usage: node scripts/smoke-pack.mjs   (or `pnpm smoke`; build the packages first)
// Set SMOKE_KEEP=1 to keep the temporary directory for debugging.

import console from 'node:console';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { listPublicPackages, pnpmPack, removeOnSignal, run } from './workspace.mjs';

const TYPESCRIPT_VERSION = '5.9.3';
const TYPES_NODE_VERSION = '20.19.43';

/**
 * Extra code type-checked against a package's shipped types, in both the ESM and the CJS
 * consumer, after `import * as pkg from '<name>'`. Add an entry when adding a package.
 */
const TYPE_SNIPPETS = {
  '@proxykit/core': `
import { stack, TimeoutLayer, ConcurrencyLimitLayer, isTimeoutError } from '@proxykit/core';
const h = stack(
  new TimeoutLayer({ timeoutMs: 100 }),
  new ConcurrencyLimitLayer({ maxConcurrent: 2 }),
).wrap(async (n: number) => n * 2);
const r: Promise<number> = h(1);
const timedOut: boolean = isTimeoutError(new Error('boom'));
export { r, timedOut };
`,
  '@proxykit/circuit-breaker': `
import { stack, isBrokenCircuitError } from '@proxykit/core';
import { CircuitBreakerLayer, KeyedCircuitBreaker, failureRate } from '@proxykit/circuit-breaker';
const breaker = new CircuitBreakerLayer({ strategy: failureRate({ threshold: 0.5 }) });
const query = stack(breaker).wrap(async (sql: string) => ({ rows: [sql] }));
const rows: Promise<{ rows: string[] }> = query('SELECT 1');
const off = breaker.onStateChange(({ from, to }) => { void from; void to; });
off();
const keyed = new KeyedCircuitBreaker<string>({ failureThreshold: 3 });
const available: boolean = keyed.isAvailable('db') && !isBrokenCircuitError(null);
export { rows, available };
`,
  '@proxykit/retry-budget': `
import { stack, TimeoutLayer } from '@proxykit/core';
import { RetryBudget, RetryLayer } from '@proxykit/retry-budget';
const retry = new RetryLayer({ maxAttempts: 3, budget: new RetryBudget({ budgetPercent: 20 }) });
const get = stack(retry, new TimeoutLayer({ timeoutMs: 100 })).wrap(async (url: string) => ({ status: 200, url }));
const response: Promise<{ status: number; url: string }> = get('http://127.0.0.1/');
export { response };
`,
  '@proxykit/rate-limit': `
import { KeyedRateLimiter, RateLimitLayer, TokenBucket } from '@proxykit/rate-limit';
const perClient = new KeyedRateLimiter<string>({
  limiter: new TokenBucket({ capacity: 3, refillPerSecond: 2 }),
  maxKeys: 10_000,
});
const limited = new RateLimitLayer({ limiter: perClient, key: (client: string) => client }).wrap(
  async (client: string) => client.length,
);
const length: Promise<number> = limited('10.0.0.1');
export { length };
`,
  '@proxykit/load-balancer': `
import { stack, type CallContext } from '@proxykit/core';
import { LoadBalancerLayer, PeakEwma, upstreamOf } from '@proxykit/load-balancer';
interface Backend { readonly name: string; readonly port: number }
const balancer = new PeakEwma<Backend>({ upstreams: [{ name: 'a', port: 1 }, { name: 'b', port: 2 }] });
const call = stack(new LoadBalancerLayer({ balancer })).wrap(
  async (path: string, ctx: CallContext) => \`\${upstreamOf<Backend>(ctx)?.name ?? 'none'}\${path}\`,
);
const answer: Promise<string> = call('/');
export { answer };
`,
  '@proxykit/health-check': `
import { ActiveHealthChecker, HttpProbe, type HealthState } from '@proxykit/health-check';
const checker = new ActiveHealthChecker({
  probe: new HttpProbe({ path: '/healthz' }),
  targets: [{ name: 'a', host: '127.0.0.1', port: 9000 }],
  intervalMs: 1_000,
});
const off = checker.onHealthChange(({ to }: { to: HealthState }) => { void to; });
off();
const closed: Promise<void> = checker[Symbol.asyncDispose]();
export { closed };
`,
  '@proxykit/upstream-pool': `
import { socketFactory, Upstream, UpstreamPool } from '@proxykit/upstream-pool';
const upstream = Upstream.parse('tcp://127.0.0.1:9000', { name: 'echo' });
const pool = new UpstreamPool({ factory: socketFactory({ connectTimeoutMs: 1_000 }), max: 10, upstreams: [upstream] });
async function use(): Promise<number> {
  await using lease = await pool.acquire(upstream, { signal: AbortSignal.timeout(1_000) });
  return lease.resource.bytesWritten;
}
export { use };
`,
  '@proxykit/proxy': `
import { createProxy, configFromEnv, type ProxyConfig } from '@proxykit/proxy';
const fromEnv: ProxyConfig = configFromEnv({ REVERSE_PROXY_UPSTREAMS: 'http://127.0.0.1:9000' });
const proxy = createProxy({ upstreams: ['http://127.0.0.1:9000'], listen: { host: '127.0.0.1', port: 0 }, logLevel: 'silent' });
const url: Promise<string> = proxy.listen().then((address) => address.url);
export { fromEnv, url };
`,
  '@proxykit/l4': `
import { createForwarder } from '@proxykit/l4';
const forwarder = createForwarder({ listen: '127.0.0.1:0', backends: ['127.0.0.1:9000'], warmPoolSize: 2 });
const port: Promise<number> = forwarder.listen().then((address) => address.port);
export { port };
`,
};

/** The consumer's compiler options: a strict Node 20 project that also checks our .d.ts files. */
const TSC_FLAGS = [
  ...['--noEmit', '--pretty', 'false', '--strict', '--skipLibCheck', 'false'],
  ...['--module', 'nodenext', '--moduleResolution', 'nodenext'],
  ...['--target', 'es2022', '--lib', 'es2022', '--types', 'node'],
];

const npmQuiet = ['--no-audit', '--no-fund', '--loglevel=error'];
let failures = 0;
let passes = 0;

function report(ok, label, detail, output = '') {
  if (ok) passes++;
  else failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label.padEnd(8)} ${detail}`);
  const text = output.trim();
  if (!ok && text) console.log(text.replace(/^/gm, '       | '));
}

async function packAll(packages, tarballDir) {
  const packed = [];
  for (const pkg of packages) {
    let filename;
    let version;
    try {
      ({ filename, version } = await pnpmPack(pkg.dir, tarballDir));
    } catch (error) {
      report(false, 'pack', pkg.name, error instanceof Error ? error.message : String(error));
      continue;
    }
    report(true, 'pack', `${pkg.name}@${version} -> ${path.basename(filename)}`);
    packed.push({ ...pkg, version, tarball: filename });
  }
  return packed;
}

/**
 * Installs every tarball at once. `overrides` pins each @proxykit/* package, wherever it appears
 * in the tree, to the root dependency (the local tarball), so npm never asks the registry for
 * them, even when a version range in a packed package.json would not match.
 */
async function installConsumer(packed, consumerDir) {
  const dependencies = {};
  const overrides = {};
  for (const pkg of packed) {
    const relative = path.relative(consumerDir, pkg.tarball).split(path.sep).join('/');
    dependencies[pkg.name] = `file:${relative}`;
    overrides[pkg.name] = `$${pkg.name}`;
  }
  dependencies.typescript = TYPESCRIPT_VERSION;
  dependencies['@types/node'] = TYPES_NODE_VERSION;
  const manifest = { name: 'proxykit-smoke-consumer', private: true, dependencies, overrides };
  await writeFile(path.join(consumerDir, 'package.json'), JSON.stringify(manifest, null, 2));

  const started = performance.now();
  const args = ['install', ...npmQuiet, '--prefer-offline'];
  const result = await run('npm', args, { cwd: consumerDir });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const detail = `${packed.length} tarball(s), typescript@${TYPESCRIPT_VERSION}, @types/node@${TYPES_NODE_VERSION} (${seconds}s)`;
  report(result.code === 0, 'install', detail, result.output);
  return result.code === 0;
}

/**
 * Confirms the tree holds exactly one copy of each package, the one from its tarball (no nested
 * duplicates, nothing from the registry, no `workspace:` range left in an installed manifest),
 * and that every range a package declares on another is met by the local version. The overrides
 * would hide an unmet range, so npm checks them with the overrides taken out.
 */
async function verifyResolution(packed, consumerDir) {
  const problems = [];
  const lock = JSON.parse(await readFile(path.join(consumerDir, 'package-lock.json'), 'utf8'));
  const ours = new Map(packed.map((pkg) => [pkg.name, pkg]));
  for (const [location, entry] of Object.entries(lock.packages ?? {})) {
    const pkg = ours.get(location.split('node_modules/').pop() ?? '');
    if (!pkg) continue;
    if (location !== `node_modules/${pkg.name}`) {
      problems.push(`${location}: a second copy of ${pkg.name} (not deduped)`);
    }
    if (typeof entry.resolved !== 'string' || !entry.resolved.startsWith('file:')) {
      problems.push(`${location}: resolved from ${String(entry.resolved)}, not a local tarball`);
    }
  }
  for (const pkg of packed) {
    const manifestPath = path.join(consumerDir, 'node_modules', pkg.name, 'package.json');
    const manifest = await readFile(manifestPath, 'utf8').catch(() => '');
    if (manifest === '') problems.push(`${pkg.name}: not installed at node_modules/${pkg.name}`);
    else if (manifest.includes('"workspace:')) {
      problems.push(`${pkg.name}: installed package.json still has a workspace: range`);
    }
  }

  const manifestPath = path.join(consumerDir, 'package.json');
  const manifest = await readFile(manifestPath, 'utf8');
  const withoutOverrides = JSON.parse(manifest);
  delete withoutOverrides.overrides;
  await writeFile(manifestPath, JSON.stringify(withoutOverrides, null, 2));
  const ls = await run('npm', ['ls', '--all', '--loglevel=error'], { cwd: consumerDir });
  await writeFile(manifestPath, manifest);
  if (ls.code !== 0) {
    // Keep the tree lines that name a problem, e.g. `@proxykit/core@0.1.0 deduped invalid: ...`.
    const named = ls.output.split('\n').filter((line) => /invalid|missing|UNMET/i.test(line));
    const shown = named.length > 0 ? named.join('\n') : ls.output;
    problems.push(`npm ls, run without the overrides, found unmet ranges:\n${shown}`);
  }

  const detail = 'one copy of each @proxykit/* package, from its tarball, meeting every range';
  report(problems.length === 0, 'resolve', detail, problems.join('\n'));
}

// Each probe loads the package named in argv and prints what it got as JSON.
const CJS_PROBE = `const name = process.argv[2];
const mod = require(name);
const namespace = Object.prototype.toString.call(mod) === '[object Module]';
console.log(JSON.stringify({ file: require.resolve(name), keys: Object.keys(mod), namespace }));
`;
const ESM_PROBE = `const name = process.argv[2];
const mod = await import(name);
console.log(JSON.stringify({ file: import.meta.resolve(name), keys: Object.keys(mod) }));
`;

async function probe(consumerDir, probeFile, name) {
  const result = await run(process.execPath, [probeFile, name], { cwd: consumerDir });
  if (result.code !== 0) return { error: result.output };
  try {
    const loaded = JSON.parse(result.stdout);
    const keys = loaded.keys.filter((key) => key !== '__esModule').sort();
    // Shown relative to the package, e.g. dist/index.cjs.
    const file = loaded.file.startsWith('file:') ? fileURLToPath(loaded.file) : loaded.file;
    const where = file.split(path.sep).join('/').split(`/node_modules/${name}/`).pop();
    return { ...loaded, keys, where };
  } catch {
    return { error: `unexpected probe output:\n${result.output}` };
  }
}

async function checkRuntime(pkg, consumerDir) {
  const [cjs, esm] = await Promise.all([
    probe(consumerDir, path.join(consumerDir, 'probe.cjs'), pkg.name),
    probe(consumerDir, path.join(consumerDir, 'probe.mjs'), pkg.name),
  ]);

  if (cjs.error !== undefined) report(false, 'require', pkg.name, cjs.error);
  else if (cjs.keys.length === 0) report(false, 'require', `${pkg.name}: no exports`);
  else if (cjs.namespace) {
    report(false, 'require', `${pkg.name}: require() loaded an ES module (${cjs.where}), not CJS`);
  } else report(true, 'require', `${pkg.name} (${cjs.keys.length} exports from ${cjs.where})`);

  if (esm.error !== undefined) report(false, 'import', pkg.name, esm.error);
  else if (esm.keys.length === 0) report(false, 'import', `${pkg.name}: no exports`);
  else if (cjs.error === undefined && esm.keys.join() !== cjs.keys.join()) {
    const onlyEsm = esm.keys.filter((key) => !cjs.keys.includes(key));
    const onlyCjs = cjs.keys.filter((key) => !esm.keys.includes(key));
    const diff = `only in ESM: ${onlyEsm.join(', ') || '-'}\nonly in CJS: ${onlyCjs.join(', ') || '-'}`;
    report(false, 'import', `${pkg.name}: ESM and CJS export different names`, diff);
  } else {
    const same = cjs.error === undefined ? ', same names as CJS' : '';
    report(true, 'import', `${pkg.name} (${esm.keys.length} exports from ${esm.where}${same})`);
  }
}

function typeCheckSource(pkg) {
  return `import * as pkg from '${pkg.name}';
const names: string[] = Object.keys(pkg);
export { names };
${TYPE_SNIPPETS[pkg.name] ?? ''}`;
}

/**
 * Type-checks every package as ESM (.mts) or CJS (.cts) in one tsc run (most of the time goes on
 * checking @types/node, so one run per package would be slow), then files each diagnostic under
 * the package it belongs to (its consumer file or its own shipped .d.ts files). Returns the
 * arguments for `report`.
 */
async function typeCheck(packed, format, consumerDir) {
  const owners = new Map(); // consumer file -> package
  for (const pkg of packed) {
    const slug = pkg.name.replace(/^@/, '').replace(/\//g, '__');
    const file = `types-${slug}.${format === 'esm' ? 'mts' : 'cts'}`;
    await writeFile(path.join(consumerDir, file), typeCheckSource(pkg));
    owners.set(file, pkg);
  }
  const tsc = path.join(consumerDir, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, ...TSC_FLAGS, ...owners.keys()];
  const result = await run(process.execPath, args, { cwd: consumerDir });

  // With --pretty false a diagnostic is one `file(line,col): error ...` line plus indented lines.
  const diagnostics = [];
  for (const line of result.output.split('\n')) {
    if (/^\s/.test(line) && diagnostics.length > 0) {
      diagnostics[diagnostics.length - 1] += `\n${line}`;
    } else if (line.trim() !== '') {
      diagnostics.push(line);
    }
  }
  const ownerOf = (diagnostic) => {
    const file = diagnostic
      .replace(/\(\d+,\d+\).*/s, '')
      .split(path.sep)
      .join('/');
    return owners.get(file) ?? packed.find((pkg) => file.includes(`node_modules/${pkg.name}/`));
  };

  const results = [...owners].map(([file, pkg]) => {
    const own = diagnostics.filter((diagnostic) => ownerOf(diagnostic) === pkg);
    return [own.length === 0, `tsc ${format}`, `${pkg.name} (${file})`, own.join('\n')];
  });
  const unowned = diagnostics.filter((diagnostic) => ownerOf(diagnostic) === undefined);
  if (unowned.length > 0 || (result.code !== 0 && diagnostics.length === 0)) {
    results.push([false, `tsc ${format}`, 'errors outside the @proxykit packages', result.output]);
  }
  return results;
}

async function main() {
  const started = performance.now();
  const packages = await listPublicPackages();
  if (packages.length === 0) {
    console.log('smoke: no public packages under packages/*');
    return;
  }
  const tempDir = await mkdtemp(path.join(os.tmpdir(), 'proxykit-smoke-'));
  const tarballDir = path.join(tempDir, 'tarballs');
  const consumerDir = path.join(tempDir, 'consumer');
  if (!process.env.SMOKE_KEEP) removeOnSignal(tempDir);
  try {
    await mkdir(tarballDir);
    await mkdir(consumerDir);
    const packed = await packAll(packages, tarballDir);
    if (failures === 0 && (await installConsumer(packed, consumerDir))) {
      await verifyResolution(packed, consumerDir);
      await writeFile(path.join(consumerDir, 'probe.cjs'), CJS_PROBE);
      await writeFile(path.join(consumerDir, 'probe.mjs'), ESM_PROBE);
      for (const pkg of packed) await checkRuntime(pkg, consumerDir);
      const typeChecks = await Promise.all([
        typeCheck(packed, 'esm', consumerDir),
        typeCheck(packed, 'cjs', consumerDir),
      ]);
      for (const result of typeChecks.flat()) report(...result);
    }
  } finally {
    if (process.env.SMOKE_KEEP) console.log(`smoke: kept ${tempDir}`);
    else await rm(tempDir, { recursive: true, force: true });
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    failures === 0
      ? `smoke: ${passes} checks passed in ${seconds}s`
      : `smoke: ${failures} of ${passes + failures} checks failed in ${seconds}s`,
  );
}

await main();
process.exitCode = failures === 0 ? 0 : 1;

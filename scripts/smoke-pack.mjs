// Why: the workspace resolves @proxykit/* to source through tsconfig paths and symlinks, so
// nothing else tests what a user actually installs. This packs every publishable package under
// packages/* with `pnpm pack` (which rewrites `workspace:` ranges to real versions), installs all
// the tarballs together into a throwaway npm project, and checks that each package can be
// require()d, imported and type-checked (as ESM and as CJS, strict, skipLibCheck off) from there.
//
// Usage: node scripts/smoke-pack.mjs   (or `pnpm smoke`; build the packages first)
// Set SMOKE_KEEP=1 to keep the temporary directory for debugging.

import { spawn } from 'node:child_process';
import console from 'node:console';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

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
};

/** The consumer's compiler options: a strict Node 20 project that also checks our .d.ts files. */
const TSC_FLAGS = [
  ...['--noEmit', '--pretty', 'false', '--strict', '--skipLibCheck', 'false'],
  ...['--module', 'nodenext', '--moduleResolution', 'nodenext'],
  ...['--target', 'es2022', '--lib', 'es2022', '--types', 'node'],
];

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const packagesDir = path.join(repoRoot, 'packages');
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

/** Every package.json under packages/* that is not `"private": true`. */
async function listPublicPackages() {
  const entries = await readdir(packagesDir, { withFileTypes: true });
  const found = [];
  for (const entry of entries.filter((e) => e.isDirectory())) {
    const dir = path.join(packagesDir, entry.name);
    let manifest;
    try {
      manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
    } catch {
      continue; // not a package (no package.json)
    }
    if (manifest.private !== true) found.push({ name: manifest.name, dir });
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** npm warns about this machine's user/env config on every run; that is noise here. */
function withoutNpmConfigNoise(text) {
  return text.replace(/^npm warn Unknown (user|env) config .*\n?/gm, '');
}

/** Runs a command; resolves with its exit code, its stdout, and stdout+stderr interleaved. */
function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, shell: process.platform === 'win32' });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      output += chunk;
    });
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (error) => {
      resolve({ code: 1, stdout, output: `${output}${String(error)}\n` });
    });
    child.on('close', (code) => {
      resolve({ code: code ?? 1, stdout, output: withoutNpmConfigNoise(output) });
    });
  });
}

/** Runs `task` over `items` with at most `limit` running at once; results keep input order. */
async function mapLimit(items, limit, task) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function packAll(packages, tarballDir) {
  const packed = [];
  for (const pkg of packages) {
    const args = ['pack', '--json', '--pack-destination', tarballDir];
    const result = await run('pnpm', args, { cwd: pkg.dir });
    if (result.code !== 0) {
      report(false, 'pack', pkg.name, result.output);
      continue;
    }
    const { filename, version } = JSON.parse(result.stdout);
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
 * Confirms the tree holds exactly one copy of each package, the one from its tarball: no nested
 * duplicates, no registry downloads, and no `workspace:` ranges left in the installed manifests.
 */
async function verifyResolution(packed, consumerDir) {
  const lock = JSON.parse(await readFile(path.join(consumerDir, 'package-lock.json'), 'utf8'));
  const ours = new Map(packed.map((pkg) => [pkg.name, pkg]));
  const problems = [];
  for (const [location, entry] of Object.entries(lock.packages ?? {})) {
    const name = location.split('node_modules/').pop();
    const pkg = name === undefined ? undefined : ours.get(name);
    if (!pkg) continue;
    if (location !== `node_modules/${pkg.name}`) {
      problems.push(`${location}: a second copy of ${pkg.name} (not deduped)`);
    }
    if (typeof entry.resolved !== 'string' || !entry.resolved.startsWith('file:')) {
      problems.push(`${location}: resolved from ${String(entry.resolved)}, not a local tarball`);
    }
    if (entry.version !== pkg.version) {
      problems.push(`${location}: version ${String(entry.version)}, packed ${pkg.version}`);
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
  const detail = `each @proxykit/* package installed once, from its local tarball`;
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

async function probe(consumerDir, file, name) {
  const result = await run(process.execPath, [file, name], { cwd: consumerDir });
  if (result.code !== 0) return { error: result.output };
  try {
    const loaded = JSON.parse(result.stdout);
    const keys = loaded.keys.filter((key) => key !== '__esModule').sort();
    const where = loaded.file.replace(/^file:\/\//, '').split(`/${name}/`).pop();
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

/** Writes the consumer file for one package and format; returns the tsc job that checks it. */
async function prepareTypeCheck(pkg, format, consumerDir) {
  const slug = pkg.name.replace(/^@/, '').replace(/\//g, '__');
  const file = path.join(consumerDir, `types-${slug}.${format === 'esm' ? 'mts' : 'cts'}`);
  await writeFile(file, typeCheckSource(pkg));
  return { pkg, format, file };
}

async function typeCheck(job, consumerDir) {
  const tsc = path.join(consumerDir, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, ...TSC_FLAGS, job.file], { cwd: consumerDir });
  return { ...job, ok: result.code === 0, output: result.output };
}

async function main() {
  const started = performance.now();
  const packages = await listPublicPackages();
  if (packages.length === 0) {
    console.log('smoke: no public packages under packages/*');
    return 0;
  }
  const tempDir = await mkdtemp(path.join(os.tmpdir(), 'proxykit-smoke-'));
  const tarballDir = path.join(tempDir, 'tarballs');
  const consumerDir = path.join(tempDir, 'consumer');
  try {
    await mkdir(tarballDir);
    await mkdir(consumerDir);
    const packed = await packAll(packages, tarballDir);
    if (failures > 0 || !(await installConsumer(packed, consumerDir))) return 1;
    await verifyResolution(packed, consumerDir);

    await writeFile(path.join(consumerDir, 'probe.cjs'), CJS_PROBE);
    await writeFile(path.join(consumerDir, 'probe.mjs'), ESM_PROBE);
    for (const pkg of packed) await checkRuntime(pkg, consumerDir);

    const jobs = [];
    for (const pkg of packed) {
      for (const format of ['esm', 'cjs']) jobs.push(await prepareTypeCheck(pkg, format, consumerDir));
    }
    const checked = await mapLimit(jobs, os.availableParallelism(), (job) =>
      typeCheck(job, consumerDir),
    );
    for (const { pkg, format, file, ok, output } of checked) {
      report(ok, `tsc ${format}`, `${pkg.name} (${path.basename(file)})`, output);
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
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();

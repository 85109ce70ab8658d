// Why: a package can build and pass its tests yet still be broken for the people who install it
// (an exports path that is not published, types that resolve to the wrong module format, a
// `require` condition pointing at ESM). This lints every publishable package under packages/*
// the way it will be published: packed with `pnpm pack` (which rewrites `workspace:` ranges), then
// checked with publint (every message, even a suggestion, fails) and with Are the Types Wrong
// (the `strict` profile, so node10, node16-from-CJS, node16-from-ESM and bundler are all checked).
//
// Usage: node scripts/check-packages.mjs   (or `pnpm pkg:check`; build the packages first)

import { spawn } from 'node:child_process';
import console from 'node:console';
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const packagesDir = path.join(repoRoot, 'packages');
const useColor = Boolean(process.stdout.isTTY);

/** Every package.json under packages/* that is not `"private": true`. */
async function listPublicPackages() {
  const entries = await readdir(packagesDir, { withFileTypes: true });
  const found = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort(byName)) {
    const dir = path.join(packagesDir, entry.name);
    let manifest;
    try {
      manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
    } catch {
      continue; // not a package (no package.json)
    }
    if (manifest.private !== true) found.push({ name: manifest.name, dir });
  }
  return found;
}

function byName(a, b) {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
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
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, output }));
  });
}

/** Packs `dir` with pnpm into `destination`; returns the tarball path. */
async function pnpmPack(dir, destination) {
  const result = await run('pnpm', ['pack', '--json', '--pack-destination', destination], {
    cwd: dir,
  });
  if (result.code !== 0) throw new Error(`pnpm pack failed:\n${result.output}`);
  return JSON.parse(result.stdout).filename;
}

async function runPublint(tarball) {
  const data = await readFile(tarball);
  const { messages, pkg } = await publint({
    pack: { tarball: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) },
    level: 'suggestion',
    strict: true,
  });
  const lines = messages.map(
    (message) =>
      `[${message.type}] ${formatMessage(message, pkg, { color: useColor }) ?? message.code}`,
  );
  return { ok: messages.length === 0, summary: `${messages.length} message(s)`, lines };
}

const attwBin = (() => {
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('@arethetypeswrong/cli/package.json');
  const manifest = require(manifestPath);
  return path.join(path.dirname(manifestPath), manifest.bin.attw);
})();

async function runAttw(tarball) {
  const args = [attwBin, tarball, '--profile', 'strict', '--format', 'ascii'];
  args.push(useColor ? '--color' : '--no-color');
  const result = await run(process.execPath, args);
  return {
    ok: result.code === 0,
    summary: result.code === 0 ? 'no problems' : 'problems found',
    lines: result.output.trimEnd().split('\n'),
  };
}

async function checkPackage(pkg, tempDir) {
  let tarball;
  try {
    tarball = await pnpmPack(pkg.dir, path.join(tempDir, path.basename(pkg.dir)));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return [{ tool: 'pack', ok: false, summary: 'failed', lines: message.split('\n') }];
  }
  const [publintResult, attwResult] = await Promise.all([runPublint(tarball), runAttw(tarball)]);
  return [
    { tool: 'publint', ...publintResult },
    { tool: 'attw', ...attwResult },
  ];
}

/** Ctrl-C or a kill skips `finally` blocks, so remove `dir` on those signals too. */
function removeOnSignal(dir) {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      rmSync(dir, { recursive: true, force: true });
      process.kill(process.pid, signal); // our listener is gone: exit the way the signal would
    });
  }
}

async function main() {
  const started = performance.now();
  const packages = await listPublicPackages();
  if (packages.length === 0) {
    console.log('pkg:check: no public packages under packages/*');
    return 0;
  }
  const tempDir = await mkdtemp(path.join(os.tmpdir(), 'proxykit-pkg-check-'));
  removeOnSignal(tempDir);
  let failures = 0;
  try {
    // Packages are independent, so check them concurrently but report in a stable order.
    const pending = packages.map((pkg) => checkPackage(pkg, tempDir));
    for (const [index, pkg] of packages.entries()) {
      const results = await pending[index];
      const ok = results.every((r) => r.ok);
      if (!ok) failures++;
      const detail = results.map((r) => `${r.tool}: ${r.summary}`).join(', ');
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${pkg.name} (${detail})`);
      for (const result of results.filter((r) => !r.ok)) {
        console.log(`  --- ${result.tool} ---`);
        for (const line of result.lines) console.log(`  ${line}`);
      }
    }
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    failures === 0
      ? `pkg:check: ${packages.length} package(s) ok in ${seconds}s`
      : `pkg:check: ${failures} of ${packages.length} package(s) failed in ${seconds}s`,
  );
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();

// Why: a package can build and pass its tests yet still be broken for the people who install it
// (an exports path that is not published, types that resolve to the wrong module format, a
// `require` condition pointing at ESM). This lints every publishable package under packages/*
// the way it will be published: packed with `pnpm pack` (which rewrites `workspace:` ranges), then
// checked with publint (every message, even a suggestion, fails) and with Are the Types Wrong
// (the `strict` profile, so node10, node16-from-CJS, node16-from-ESM and bundler are all checked).
//
// Usage: node scripts/check-packages.mjs   (or `pnpm pkg:check`; build the packages first)

import console from 'node:console';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { listPublicPackages, pnpmPack, removeOnSignal, run } from './workspace.mjs';

const useColor = Boolean(process.stdout.isTTY);

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
    tarball = (await pnpmPack(pkg.dir, path.join(tempDir, path.basename(pkg.dir)))).filename;
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

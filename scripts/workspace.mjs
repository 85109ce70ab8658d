// Why: the package checks and the packaging smoke test both walk the publishable packages, run
// tools as child processes, pack with pnpm and clean up temporary directories. Those pieces live
// here once.

import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Every package under packages/* that is not `"private": true`, sorted by name. */
export async function listPublicPackages() {
  const packagesDir = path.join(repoRoot, 'packages');
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
export function run(command, args, options = {}) {
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

/**
 * Packs the package in `dir` with pnpm (which rewrites `workspace:` ranges to real versions)
 * into `destination`; resolves with pnpm's JSON report (`filename`, `version`, …).
 */
export async function pnpmPack(dir, destination) {
  const result = await run('pnpm', ['pack', '--json', '--pack-destination', destination], {
    cwd: dir,
  });
  if (result.code !== 0) throw new Error(`pnpm pack failed:\n${result.output}`);
  return JSON.parse(result.stdout);
}

/** Ctrl-C or a kill skips `finally` blocks, so remove `dir` on those signals too. */
export function removeOnSignal(dir) {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      rmSync(dir, { recursive: true, force: true });
      process.kill(process.pid, signal); // our listener is gone: exit the way the signal would
    });
  }
}

/**
 * Why: the native peers (nginx, HAProxy, ab, socat) come from Debian's packages, and a fresh
 * machine may lack them. Before a suite starts them it looks each one up and, when one is
 * missing, installs the packages with apt-get once. A tool that still cannot be found is
 * reported as unavailable by the suite instead of failing the whole run.
 */
import { spawnSync } from 'node:child_process';

/** The Debian package that provides each command. */
const PACKAGES: Readonly<Record<string, string>> = {
  haproxy: 'haproxy',
  nginx: 'nginx',
  ab: 'apache2-utils',
  socat: 'socat',
};

function locate(command: string): string | undefined {
  // Daemons live in /usr/sbin, which is not on every user's PATH.
  const found = spawnSync(
    'sh',
    [
      '-c',
      `command -v ${command} || { test -x /usr/sbin/${command} && echo /usr/sbin/${command}; }`,
    ],
    { encoding: 'utf8' },
  );
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
}

function aptGet(args: readonly string[]): boolean {
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    // RUNLEVEL=1 keeps the packages' scripts from starting the system nginx/haproxy services.
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' },
  });
  return result.status === 0;
}

/**
 * Resolves each command to its path, installing the missing ones' packages first; a command that
 * is still missing maps to an `Error` saying why.
 */
export function ensureCommands(commands: readonly string[]): Map<string, string | Error> {
  const missing = commands.filter((c) => locate(c) === undefined);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((c) => PACKAGES[c] ?? c))];
    console.log(`installing ${packages.join(', ')} (apt-get) for the native peers`);
    const installed =
      aptGet(['install', '-y', '-qq', ...packages]) ||
      (aptGet(['update', '-qq']) && aptGet(['install', '-y', '-qq', ...packages]));
    if (!installed) console.log(`apt-get could not install ${packages.join(', ')}`);
  }
  return new Map(
    commands.map((c) => [
      c,
      locate(c) ??
        new Error(`${c} is not installed and apt-get could not install ${PACKAGES[c] ?? c}`),
    ]),
  );
}

/** The first line `command args` prints (e.g. a version banner), or '' when it fails. */
export function firstLine(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return `${result.stdout}${result.stderr}`.split('\n')[0]?.trim() ?? '';
}

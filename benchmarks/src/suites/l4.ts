/**
 * Why: @proxykit/l4 claims to forward TCP about as fast as Node allows: faster than the bare
 * `socket.pipe` forwarder anyone would write first, and close to HAProxy on one core. This
 * suite measures both in one run, the way the goal is stated: ApacheBench with keep-alive
 * (`ab -k -n 500000 -c 200`) against a Node HTTP backend answering a small body, directly and
 * through each forwarder:
 *
 * - direct to the backend (the reference);
 * - proxykit's forwarder with 1 worker (in its process) and with one worker per core;
 * - a bare `socket.pipe` forwarder (one process);
 * - HAProxy in TCP mode with one thread (Debian's package, installed when missing).
 *
 * ab reports requests/s, failed requests (which must be 0), and per-request time percentiles
 * (whole milliseconds). Targets: proxykit with 1 worker ≥ 1.1× the bare pipe's requests/s and
 * ≥ 0.8× HAProxy's. Then bulk throughput: one connection receives 1 GiB from the backend's TCP
 * source, directly and through proxykit (1 worker), the bare pipe, HAProxy and socat, in MB/s.
 *
 * Environment: BENCH_L4_REQUESTS (500000), BENCH_L4_CONCURRENCY (200), BENCH_L4_ROUNDS (1),
 * BENCH_L4_BULK_MIB (1024), BENCH_L4_BULK_ROUNDS (3); BENCH_CPU_PROF=proxykit-l4 (or
 * pipe-forwarder; comma-separated) writes a CPU profile of our forwarder with 1 worker.
 */
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import type { ForwarderOptions } from '@proxykit/l4';
import { join } from 'node:path';
import { type AbResult, runAb } from '../load/ab-run.js';
import { type BulkResult, receiveBulk } from '../load/bulk-transfer.js';
import { stopAll } from '../load/cleanup.js';
import { envInteger, profileFlags } from '../load/env-options.js';
import {
  compareRows,
  defineLoadSuite,
  type LoadMeasurement,
  type LoadRow,
  type LoadSuite,
  type LoadTable,
  rowRatio,
} from '../load/load-suite.js';
import { ensureCommands, firstLine } from '../load/native-commands.js';
import { startHaproxy, startSocat } from '../load/native-peers.js';
import { type CpuTimes, cpuTimesBetween, treeCpuTimes } from '../load/process-cpu.js';
import { type ServerProcess, startNodeServer } from '../load/server-process.js';
import { median, spread } from '../load/stats.js';

const WORKERS = availableParallelism();
const DIRECT = 'direct (no forwarder)';
const OURS = 'proxykit l4 (1 worker)';
const OURS_N = `proxykit l4 (${String(WORKERS)} workers)`;
const PIPE = 'bare socket.pipe forwarder';
const HAPROXY = 'HAProxy TCP mode (nbthread 1)';
const SOCAT = 'socat (fork)';

/** Size of the backend's HTTP response body. */
const BODY_BYTES = 128;

/** A forwarder to measure: its name and how to start it in front of `backendPort`. */
interface Target {
  readonly name: string;
  readonly start: (backendPort: number) => Promise<Started>;
}

/** A started target: its port and the process that forwards (for its CPU time). */
interface Started {
  readonly port: number;
  readonly pid: number | undefined;
}

/** A measurement with the CPU time the forwarding process (and its workers) spent on it. */
type WithCpu<T> = T & { readonly cpu: CpuTimes };

/** Runs `measure` and adds the CPU time `pid`'s process tree spent meanwhile. */
async function withCpu<T>(pid: number | undefined, measure: () => Promise<T>): Promise<WithCpu<T>> {
  const before = treeCpuTimes(pid);
  const result = await measure();
  return { ...result, cpu: cpuTimesBetween(before, treeCpuTimes(pid)) };
}

type Native = ReadonlyMap<string, string | Error>;

function nativePath(native: Native, command: string): string {
  const path = native.get(command);
  if (path === undefined || path instanceof Error) throw path ?? new Error(command);
  return path;
}

function targets(
  native: Native,
  profileDir: string,
  backend: () => ServerProcess,
): Record<string, Target> {
  const pid = (): number | undefined => backend().child.pid;
  const port = (server: ServerProcess): Started => ({
    port: server.ports.port,
    pid: server.child.pid,
  });
  const ours = (name: string, workers: number): Target => ({
    name,
    start: async (backendPort) =>
      port(
        await startNodeServer(
          'proxykit-l4',
          {
            config: {
              listen: { host: '127.0.0.1', port: 0 },
              backends: [`127.0.0.1:${String(backendPort)}`],
              workers,
            } satisfies ForwarderOptions,
          },
          { nodeFlags: workers === 1 ? profileFlags('proxykit-l4', profileDir) : [] },
        ),
      ),
  });
  return {
    [DIRECT]: {
      name: DIRECT,
      start: (backendPort) => Promise.resolve({ port: backendPort, pid: pid() }),
    },
    [OURS]: ours(OURS, 1),
    [OURS_N]: ours(OURS_N, WORKERS),
    [PIPE]: {
      name: PIPE,
      start: async (backendPort) =>
        port(
          await startNodeServer(
            'pipe-forwarder',
            { backendPort },
            { nodeFlags: profileFlags('pipe-forwarder', profileDir) },
          ),
        ),
    },
    [HAPROXY]: {
      name: HAPROXY,
      start: async (backendPort) =>
        port(await startHaproxy(nativePath(native, 'haproxy'), 'tcp', backendPort)),
    },
    [SOCAT]: {
      name: SOCAT,
      start: async (backendPort) =>
        port(await startSocat(nativePath(native, 'socat'), backendPort)),
    },
  };
}

function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}

/** Starts each named target in front of `backendPort`; the ones that fail get a note instead. */
async function startAll(
  all: Record<string, Target>,
  names: readonly string[],
  backendPort: number,
  unavailable: Map<string, string>,
): Promise<Map<string, Started>> {
  const started = new Map<string, Started>();
  for (const name of names) {
    const target = all[name];
    if (target === undefined) continue;
    try {
      started.set(name, await target.start(backendPort));
    } catch (error) {
      unavailable.set(name, `unavailable: ${reason(error)}`);
      console.log(`${name}: ${reason(error)}`);
    }
  }
  return started;
}

/** `rounds` passes over `names` in rotating order; each call of `measure` is one sample. */
async function inRounds<T>(
  names: readonly string[],
  rounds: number,
  measure: (name: string) => Promise<T>,
  failed: Map<string, string>,
): Promise<Map<string, T[]>> {
  const samples = new Map<string, T[]>(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    const start = round % Math.max(1, names.length);
    for (const name of [...names.slice(start), ...names.slice(0, start)]) {
      if (failed.has(name)) continue;
      try {
        samples.get(name)?.push(await measure(name));
      } catch (error) {
        failed.set(name, `failed: ${reason(error)}`);
        console.log(`${name}: ${reason(error)}`);
      }
    }
  }
  return samples;
}

function abRow(name: string, runs: readonly WithCpu<AbResult>[], direct: number): LoadRow {
  const rps = median(runs.map((r) => r.requestsPerSec));
  return {
    name,
    values: {
      rps,
      xDirect: rps / direct,
      cpu: median(runs.map((r) => ((r.cpu.user + r.cpu.system) * 1e6) / r.completed)),
      user: median(runs.map((r) => (r.cpu.user * 1e6) / r.completed)),
      system: median(runs.map((r) => (r.cpu.system * 1e6) / r.completed)),
      failed: runs.reduce((sum, r) => sum + r.failed, 0),
      non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
      p50: median(runs.map((r) => r.p50Ms)),
      p99: median(runs.map((r) => r.p99Ms)),
      max: Math.max(...runs.map((r) => r.maxMs)),
      spread: spread(runs.map((r) => r.requestsPerSec)) * 100,
    },
  };
}

function bulkRow(name: string, runs: readonly WithCpu<BulkResult>[], direct: number): LoadRow {
  const mbps = median(runs.map((r) => r.megabytesPerSec));
  return {
    name,
    values: {
      mbps,
      xDirect: mbps / direct,
      seconds: median(runs.map((r) => r.seconds)),
      cpu: median(runs.map((r) => (r.cpu.user + r.cpu.system) / (r.bytes / 2 ** 30))),
      spread: spread(runs.map((r) => r.megabytesPerSec)) * 100,
    },
  };
}

function rows<T>(
  order: readonly string[],
  samples: ReadonlyMap<string, readonly T[]>,
  notes: ReadonlyMap<string, string>,
  row: (name: string, runs: readonly T[]) => LoadRow,
): LoadRow[] {
  return order
    .filter((name) => samples.has(name) || notes.has(name))
    .map((name) => {
      const runs = samples.get(name) ?? [];
      const note = notes.get(name);
      if (runs.length === 0) return { name, values: {}, note: note ?? 'not measured' };
      const made = row(name, runs);
      return note === undefined ? made : { ...made, note };
    });
}

async function measure(): Promise<LoadMeasurement> {
  const requests = envInteger('BENCH_L4_REQUESTS', 500_000, 1_000, 100_000_000);
  const concurrency = envInteger('BENCH_L4_CONCURRENCY', 200, 1, 20_000);
  const rounds = envInteger('BENCH_L4_ROUNDS', 1, 1, 20);
  const bulkMiB = envInteger('BENCH_L4_BULK_MIB', 1024, 1, 65_536);
  const bulkRounds = envInteger('BENCH_L4_BULK_ROUNDS', 3, 1, 20);
  const bulkBytes = bulkMiB * 1024 * 1024;
  const profileDir = join(tmpdir(), 'proxykit-profiles');
  const notes = [
    `load average before the run: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ', ',
      )} (1, 5, 15 min); ab, the forwarder and the backend share the ${String(WORKERS)} cores`,
  ];

  const native = ensureCommands(['ab', 'haproxy', 'socat']);
  const ab = native.get('ab');
  let backend = await startNodeServer('upstream', { bodyBytes: BODY_BYTES });
  const all = targets(native, profileDir, () => backend);
  const backendPort = backend.ports.port;

  // Requests per second through each forwarder.
  const abOrder = [DIRECT, OURS, OURS_N, PIPE, HAPROXY];
  const abNotes = new Map<string, string>();
  let abSamples = new Map<string, WithCpu<AbResult>[]>();
  if (typeof ab !== 'string') {
    for (const name of abOrder) abNotes.set(name, `unavailable: ${reason(ab)}`);
  } else {
    const ports = await startAll(all, abOrder, backendPort, abNotes);
    const run = (name: string, n: number): Promise<WithCpu<AbResult>> =>
      withCpu(ports.get(name)?.pid, () =>
        runAb({
          ab,
          url: `http://127.0.0.1:${String(ports.get(name)?.port ?? 0)}/`,
          requests: n,
          concurrency,
        }),
      );
    const warm = [...ports.keys()];
    await inRounds(warm, 1, (name) => run(name, Math.min(20_000, requests)), abNotes);
    abSamples = await inRounds(
      warm,
      rounds,
      async (name) => {
        const result = await run(name, requests);
        console.log(
          `${name}: ${result.requestsPerSec.toFixed(0)} req/s, ${String(result.failed)} failed, p99 ${String(result.p99Ms)} ms`,
        );
        return result;
      },
      abNotes,
    );
  }
  await stopAll();

  // Bulk throughput: a new backend process and new forwarders in front of its TCP source.
  const bulkOrder = [DIRECT, OURS, PIPE, HAPROXY, SOCAT];
  const bulkNotes = new Map<string, string>();
  backend = await startNodeServer('upstream', { bodyBytes: BODY_BYTES, bulkBytes });
  const bulkPorts = await startAll(all, bulkOrder, backend.ports['bulkPort'] ?? 0, bulkNotes);
  const warmBytes = Math.min(bulkBytes, 64 * 1024 * 1024);
  await inRounds(
    [...bulkPorts.keys()],
    1,
    (name) => receiveBulk(bulkPorts.get(name)?.port ?? 0, warmBytes, 60_000),
    bulkNotes,
  );
  const bulkSamples = await inRounds(
    [...bulkPorts.keys()],
    bulkRounds,
    async (name) => {
      // Slower than 10 MB/s is broken, not slow.
      const target = bulkPorts.get(name);
      const result = await withCpu(target?.pid, () =>
        receiveBulk(target?.port ?? 0, bulkBytes, 10_000 + bulkMiB * 100),
      );
      console.log(`${name}: ${result.megabytesPerSec.toFixed(0)} MB/s`);
      return result;
    },
    bulkNotes,
  );

  const direct = median((abSamples.get(DIRECT) ?? []).map((r) => r.requestsPerSec));
  const abTable: LoadTable = {
    title: `ab -k -n ${String(requests)} -c ${String(concurrency)}, ${String(BODY_BYTES)}-byte responses${rounds > 1 ? `, median of ${String(rounds)} runs` : ''}`,
    columns: [
      { key: 'rps', label: 'requests/s', decimals: 0 },
      { key: 'xDirect', label: '× direct', decimals: 2 },
      { key: 'cpu', label: 'CPU µs/req', decimals: 1 },
      { key: 'user', label: 'user µs', decimals: 1 },
      { key: 'system', label: 'system µs', decimals: 1 },
      { key: 'failed', label: 'failed', decimals: 0 },
      { key: 'non2xx', label: 'non-2xx', decimals: 0 },
      { key: 'p50', label: 'p50 ms', decimals: 0 },
      { key: 'p99', label: 'p99 ms', decimals: 0 },
      { key: 'max', label: 'max ms', decimals: 0 },
      ...(rounds > 1 ? [{ key: 'spread', label: 'spread %', decimals: 0 }] : []),
    ],
    barColumn: 'rps',
    rows: rows(abOrder, abSamples, abNotes, (name, runs) => abRow(name, runs, direct)),
  };
  const directMbps = median((bulkSamples.get(DIRECT) ?? []).map((r) => r.megabytesPerSec));
  const bulkTable: LoadTable = {
    title: `bulk: ${String(bulkMiB)} MiB from the backend over one connection, median of ${String(bulkRounds)}`,
    columns: [
      { key: 'mbps', label: 'MB/s', decimals: 0 },
      { key: 'xDirect', label: '× direct', decimals: 2 },
      { key: 'seconds', label: 'seconds', decimals: 2 },
      { key: 'cpu', label: 'CPU s/GiB', decimals: 2 },
      { key: 'spread', label: 'spread %', decimals: 0 },
    ],
    barColumn: 'mbps',
    rows: rows(bulkOrder, bulkSamples, bulkNotes, (name, runs) => bulkRow(name, runs, directMbps)),
  };

  const mustBeZero = ['failed', 'non2xx'];
  const abTargets = [
    compareRows(abTable, {
      case: OURS,
      against: PIPE,
      key: 'rps',
      metric: 'requests/s',
      comparison: '≥',
      goal: 1.1,
      mustBeZero,
    }),
    compareRows(abTable, {
      case: OURS,
      against: HAPROXY,
      key: 'rps',
      metric: 'requests/s',
      comparison: '≥',
      goal: 0.8,
      mustBeZero,
    }),
  ];
  const ratio = (table: LoadTable, a: string, b: string, key: string): string =>
    rowRatio(table, a, b, key).toFixed(2);
  const finite = (line: string): boolean => !line.includes('NaN');
  notes.push(
    ...[
      `the native limit: ${HAPROXY} reaches ${ratio(abTable, HAPROXY, PIPE, 'rps')}× the bare pipe's requests/s at ${ratio(abTable, HAPROXY, PIPE, 'cpu')}× its CPU per request; the backend and ab share the cores with the forwarder, so a forwarder cheaper than the pipe gains less than its CPU saving`,
      `where the CPU goes: the kernel's share (system time: the socket reads and writes, the same syscalls per request for every forwarder) is ${ratio(abTable, OURS, HAPROXY, 'system')}× HAProxy's for ${OURS} and ${ratio(abTable, PIPE, HAPROXY, 'system')}× for the bare pipe; the user-space share is ${ratio(abTable, OURS, HAPROXY, 'user')}× HAProxy's for ${OURS} and ${ratio(abTable, PIPE, HAPROXY, 'user')}× for the bare pipe`,
      `${OURS_N} reaches ${ratio(abTable, OURS_N, OURS, 'rps')}× the requests/s of ${OURS} and ${ratio(abTable, OURS_N, HAPROXY, 'rps')}× HAProxy's (one thread)`,
      `bulk: ${OURS} moves ${ratio(bulkTable, OURS, HAPROXY, 'mbps')}× HAProxy's MB/s, ${ratio(bulkTable, OURS, SOCAT, 'mbps')}× socat's and ${ratio(bulkTable, OURS, PIPE, 'mbps')}× the bare pipe's`,
      `CPU per request (user + system time of the forwarding process and its workers, from /proc, which shared cores disturb less than requests/s): ${OURS} spends ${ratio(abTable, OURS, PIPE, 'cpu')}× the bare pipe's and ${ratio(abTable, OURS, HAPROXY, 'cpu')}× HAProxy's; per GiB of bulk ${ratio(bulkTable, OURS, HAPROXY, 'cpu')}× HAProxy's and ${ratio(bulkTable, OURS, SOCAT, 'cpu')}× socat's`,
    ].filter(finite),
    `ab's percentiles are whole milliseconds; ${typeof native.get('haproxy') === 'string' ? firstLine(nativePath(native, 'haproxy'), ['-v']) : 'HAProxy unavailable'}; socat with its defaults (8 KiB blocks)`,
  );
  return {
    method: `ApacheBench (keep-alive, HTTP/1.0) after a ${String(Math.min(20_000, requests))}-request warm-up per target; then, after a 64 MiB warm-up, one connection receiving ${String(bulkMiB)} MiB per target, ${String(bulkRounds)} round(s) in rotating order; each server in its own process`,
    tables: [abTable, bulkTable],
    targets: abTargets,
    notes,
  };
}

const suite: LoadSuite = defineLoadSuite({
  name: 'l4',
  run: async () => {
    try {
      return await measure();
    } finally {
      await stopAll();
    }
  },
});

export default suite;

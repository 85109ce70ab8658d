/**
 * Why: @proxykit/proxy claims that a proxy built from our layers, with every resilience feature
 * on, is faster than the Node.js proxies people use today and no slower than the barest undici
 * pass-through. This suite puts them side by side in one run, in front of the same upstream (a
 * Node HTTP server answering a small body over keep-alive), each in its own process:
 *
 * - direct to the upstream (the reference: what the upstream does without any proxy);
 * - proxykit: `createProxy` with active health checks, the circuit breaker, retries with a
 *   budget, a per-client rate limit high enough never to reject, and metrics, one worker;
 * - @fastify/reply-from (its defaults), http-proxy with a keep-alive agent, a bare undici
 *   `Pool.stream` pass-through;
 * - for reference, not as a goal, a bare pass-through on `Pool.dispatch` with a handler object,
 *   the way ours calls undici: what ours spends above it is what its features cost;
 * - nginx (1 worker) and HAProxy (1 thread), installed from Debian's packages when missing, as
 *   the native limit.
 *
 * autocannon (in this process, apart from every server) holds 50 keep-alive connections with
 * one request each for a fixed time. After a warm-up of every target, the targets are measured
 * in rounds, in rotating order, and each figure is the median of the rounds. Targets: proxykit
 * ≥ 1.5× reply-from's requests/s, ≥ 2× http-proxy's, ≥ 1× the undici pass-through's, each with
 * a p99 latency no worse.
 *
 * Environment: BENCH_PROXY_CONNECTIONS (50), BENCH_PROXY_DURATION_S (3), BENCH_PROXY_ROUNDS (5),
 * BENCH_PROXY_WARMUP_S (2); BENCH_PROXY_ONLY=proxykit,undici measures only the targets whose
 * names contain one of these (and direct); BENCH_CPU_PROF=proxykit-proxy writes a CPU profile of
 * our proxy.
 */
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProxyOptions } from '@proxykit/proxy';
import { type HttpLoadResult, runAutocannon } from '../load/autocannon-run.js';
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
import { startHaproxy, startNginx } from '../load/native-peers.js';
import { cpuTimesBetween, treeCpuTimes } from '../load/process-cpu.js';
import { type ServerProcess, startNodeServer } from '../load/server-process.js';
import { median, spread } from '../load/stats.js';

const DIRECT = 'direct (no proxy)';
const OURS = 'proxykit proxy (all features on)';
const REPLY_FROM = '@fastify/reply-from';
const HTTP_PROXY = 'http-proxy (keep-alive agent)';
const UNDICI = 'undici pass-through';
const DISPATCH = 'undici dispatch pass-through (reference)';
const NGINX = 'nginx (1 worker)';
const HAPROXY = 'HAProxy (nbthread 1)';

/** Size of the upstream's response body. */
const BODY_BYTES = 128;

/** A target to load: its name and how to start it. */
interface Target {
  readonly name: string;
  readonly start: () => Promise<Started>;
}

/** A started target: where to send requests and which process serves them (for its CPU time). */
interface Started {
  readonly url: string;
  readonly pid: number | undefined;
}

const url = (port: number): string => `http://127.0.0.1:${String(port)}/`;
const started = (server: ServerProcess): Started => ({
  url: url(server.ports.port),
  pid: server.child.pid,
});

/** One measured run of one target. */
interface Run extends HttpLoadResult {
  /** CPU time the serving process spent per response, in microseconds (user + system). */
  readonly cpuUsPerRequest: number;
  /** The user-space part of it, in microseconds. */
  readonly userUsPerRequest: number;
  /** The kernel's part of it (system time), in microseconds. */
  readonly systemUsPerRequest: number;
}

function targets(
  upstream: ServerProcess,
  profileDir: string,
  native: ReadonlyMap<string, string | Error>,
): Target[] {
  const node = (name: string, entry: string, options: unknown): Target => ({
    name,
    start: async () => {
      const nodeFlags = profileFlags(entry, profileDir);
      return started(await startNodeServer(entry, options, { nodeFlags }));
    },
  });
  const nativeTarget = (
    name: string,
    command: string,
    start: (path: string) => Promise<ServerProcess>,
  ): Target => ({
    name,
    start: async () => {
      const path = native.get(command);
      if (path === undefined || path instanceof Error) throw path ?? new Error(command);
      return started(await start(path));
    },
  });
  const upstreamUrl = url(upstream.ports.port);
  const upstreamPort = upstream.ports.port;
  const config: ProxyOptions = {
    upstreams: [upstreamUrl],
    listen: { host: '127.0.0.1', port: 0 },
    workers: 1,
    healthCheck: true,
    healthCheckIntervalSecs: 1,
    circuitBreaker: true,
    retryMaxAttempts: 3,
    retryBudgetPercent: 20,
    rateLimitRps: 1_000_000,
    logLevel: 'silent',
  };
  return [
    { name: DIRECT, start: () => Promise.resolve(started(upstream)) },
    node(OURS, 'proxykit-proxy', { config }),
    node(REPLY_FROM, 'reply-from', { upstream: upstreamUrl }),
    node(HTTP_PROXY, 'http-proxy', { upstream: upstreamUrl }),
    node(UNDICI, 'undici-pass', { upstream: upstreamUrl }),
    node(DISPATCH, 'undici-dispatch', { upstream: upstreamUrl }),
    nativeTarget(NGINX, 'nginx', (path) => startNginx(path, upstreamPort)),
    nativeTarget(HAPROXY, 'haproxy', (path) => startHaproxy(path, 'http', upstreamPort)),
  ];
}

function summarize(name: string, runs: readonly Run[], direct: number): LoadRow {
  const rps = median(runs.map((r) => r.requestsPerSec));
  return {
    name,
    values: {
      rps,
      xDirect: rps / direct,
      cpu: median(runs.map((r) => r.cpuUsPerRequest)),
      user: median(runs.map((r) => r.userUsPerRequest)),
      system: median(runs.map((r) => r.systemUsPerRequest)),
      p50: median(runs.map((r) => r.p50Ms)),
      p99: median(runs.map((r) => r.p99Ms)),
      max: Math.max(...runs.map((r) => r.maxMs)),
      errors: runs.reduce((sum, r) => sum + r.errors, 0),
      non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
      spread: spread(runs.map((r) => r.requestsPerSec)) * 100,
    },
  };
}

async function measure(): Promise<LoadMeasurement> {
  const connections = envInteger('BENCH_PROXY_CONNECTIONS', 50, 1, 10_000);
  const durationSeconds = envInteger('BENCH_PROXY_DURATION_S', 3, 1, 600);
  const rounds = envInteger('BENCH_PROXY_ROUNDS', 5, 1, 20);
  const warmupSeconds = envInteger('BENCH_PROXY_WARMUP_S', 2, 0, 60);
  const profileDir = join(tmpdir(), 'proxykit-profiles');
  const notes = [
    `load average before the run: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')} (1, 5, 15 min); the load generator, the proxy and the upstream share the cores`,
  ];

  const native = ensureCommands(['nginx', 'haproxy']);
  const version = (command: string, flag: string): string => {
    const path = native.get(command);
    return typeof path === 'string' ? firstLine(path, [flag]) : 'unavailable';
  };
  const upstream = await startNodeServer('upstream', { bodyBytes: BODY_BYTES });
  const running = new Map<string, Started>();
  const unavailable = new Map<string, string>();
  const only = (process.env['BENCH_PROXY_ONLY'] ?? '').split(',').filter((f) => f !== '');
  const selected = targets(upstream, profileDir, native).filter(
    (t) => t.name === DIRECT || only.length === 0 || only.some((f) => t.name.includes(f)),
  );
  for (const target of selected) {
    try {
      running.set(target.name, await target.start());
    } catch (error) {
      const reason = (error instanceof Error ? error.message : String(error)).slice(0, 300);
      unavailable.set(target.name, `unavailable: ${reason}`);
      console.log(`${target.name}: ${reason}`);
    }
  }

  const load = async (target: Started | undefined, seconds: number): Promise<Run> => {
    const before = treeCpuTimes(target?.pid);
    const result = await runAutocannon({
      url: target?.url ?? '',
      connections,
      durationSeconds: seconds,
    });
    const { user, system } = cpuTimesBetween(before, treeCpuTimes(target?.pid));
    const perRequest = (cpuSeconds: number): number => (cpuSeconds * 1e6) / result.responses;
    return {
      ...result,
      cpuUsPerRequest: perRequest(user + system),
      userUsPerRequest: perRequest(user),
      systemUsPerRequest: perRequest(system),
    };
  };
  const names = [...running.keys()];
  if (warmupSeconds > 0) {
    for (const [, target] of running) await load(target, warmupSeconds);
  }
  const runs = new Map<string, Run[]>(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    const start = round % names.length;
    for (const name of [...names.slice(start), ...names.slice(0, start)]) {
      const result = await load(running.get(name), durationSeconds);
      runs.get(name)?.push(result);
      console.log(
        `round ${String(round + 1)}/${String(rounds)} ${name}: ${result.requestsPerSec.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(2)} ms, ${result.cpuUsPerRequest.toFixed(0)} µs CPU/req`,
      );
    }
  }

  const direct = median((runs.get(DIRECT) ?? []).map((r) => r.requestsPerSec));
  const order = [DIRECT, OURS, REPLY_FROM, HTTP_PROXY, UNDICI, DISPATCH, NGINX, HAPROXY];
  const table: LoadTable = {
    title: `HTTP keep-alive load: ${String(connections)} connections, ${String(BODY_BYTES)}-byte responses, median of ${String(rounds)} × ${String(durationSeconds)} s`,
    columns: [
      { key: 'rps', label: 'requests/s', decimals: 0 },
      { key: 'xDirect', label: '× direct', decimals: 2 },
      { key: 'cpu', label: 'CPU µs/req', decimals: 0 },
      { key: 'user', label: 'user µs', decimals: 0 },
      { key: 'system', label: 'system µs', decimals: 0 },
      { key: 'p50', label: 'p50 ms', decimals: 2 },
      { key: 'p99', label: 'p99 ms', decimals: 2 },
      { key: 'max', label: 'max ms', decimals: 1 },
      { key: 'errors', label: 'errors', decimals: 0 },
      { key: 'non2xx', label: 'non-2xx', decimals: 0 },
      { key: 'spread', label: 'spread %', decimals: 0 },
    ],
    barColumn: 'rps',
    rows: order.map((name) => {
      const measured = runs.get(name);
      return measured === undefined || measured.length === 0
        ? { name, values: {}, note: unavailable.get(name) ?? 'not measured' }
        : summarize(name, measured, direct);
    }),
  };

  const goals: [string, number][] = [
    [REPLY_FROM, 1.5],
    [HTTP_PROXY, 2],
    [UNDICI, 1],
  ];
  const mustBeZero = ['errors', 'non2xx'];
  const targetsMet = goals.flatMap(([against, goal]) => [
    compareRows(table, {
      case: OURS,
      against,
      key: 'rps',
      metric: 'requests/s',
      comparison: '≥',
      goal,
      mustBeZero,
    }),
    compareRows(table, {
      case: OURS,
      against,
      key: 'p99',
      metric: 'p99 latency',
      comparison: '≤',
      goal: 1,
      mustBeZero,
    }),
  ]);
  const ratios = (key: string, names: readonly string[], of = OURS): string =>
    names
      .map((name) => ({ name, x: rowRatio(table, of, name, key) }))
      .filter(({ x }) => !Number.isNaN(x))
      .map(({ name, x }) => `${x.toFixed(2)}× ${name}'s`)
      .join(', ');
  const floor = ratios('rps', [REPLY_FROM, HTTP_PROXY], UNDICI);
  if (floor !== '') {
    notes.push(
      `the floor of a proxy on node:http and undici: the ${UNDICI}, with no feature at all, reaches ${floor} requests/s`,
    );
  }
  const dispatchFloor = ratios('rps', [REPLY_FROM, HTTP_PROXY, UNDICI], DISPATCH);
  const featureCost = ratios('cpu', [DISPATCH]);
  if (dispatchFloor !== '' && featureCost !== '') {
    notes.push(
      `the ${DISPATCH} calls undici as ours does, with no feature: it reaches ${dispatchFloor} requests/s; ${OURS} spends ${featureCost} CPU per request`,
    );
  }
  const nativeRatios = ratios('rps', [NGINX, HAPROXY]);
  if (nativeRatios !== '') notes.push(`${OURS} reaches ${nativeRatios} requests/s`);
  const cpu = ratios('cpu', [REPLY_FROM, HTTP_PROXY, UNDICI, DISPATCH, NGINX, HAPROXY]);
  if (cpu !== '') {
    notes.push(
      `CPU µs/req is the serving process's user + system time per response (from /proc), which shared cores disturb less than requests/s; ${OURS} spends ${cpu}`,
    );
  }
  const user = ratios('user', [UNDICI, DISPATCH, NGINX, HAPROXY]);
  const system = ratios('system', [UNDICI, DISPATCH, NGINX, HAPROXY]);
  if (user !== '' && system !== '') {
    notes.push(
      `where the CPU goes: system time is the kernel's share (the socket reads and writes), user time the program's own; ${OURS} spends ${system} system time and ${user} user time`,
    );
  }
  notes.push(
    `spread % is (max − min) / median of the rounds' requests/s; ${version('nginx', '-v')}; ${version('haproxy', '-v')}`,
  );
  return {
    method: `autocannon ${String(connections)} connections × 1 request in flight, ${String(warmupSeconds)} s warm-up per target, then ${String(rounds)} round(s) of ${String(durationSeconds)} s per target in rotating order; each server in its own process`,
    tables: [table],
    targets: targetsMet,
    notes,
  };
}

const suite: LoadSuite = defineLoadSuite({
  name: 'proxy',
  run: async () => {
    try {
      return await measure();
    } finally {
      await stopAll();
    }
  },
});

export default suite;

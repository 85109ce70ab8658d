/**
 * Why: a distributed limiter costs one round trip per decision, so what matters is how many
 * decisions per second it sustains against one Redis at the concurrency of a busy proxy. This
 * suite starts its own redis-server (Debian's package) on a free loopback port, and measures
 * batches of 1 000 decisions made by 50 concurrent callers (20 each, one key per caller) through
 * @proxykit/rate-limit's RedisRateLimiter and through rate-limiter-flexible 11's RateLimiterRedis
 * (`useRedisPackage: false`), each on its own ioredis connection with the same options. The
 * table's time per call is the batch's wall time / 1 000, so its inverse is the throughput.
 * Target: ours at least as fast (ratio ≤ 1). The "floor" row is an EVALSHA of `return 0`: the
 * round trip alone. Two more rows repeat the GCRA comparison with ioredis's
 * `enableAutoPipelining: true` on both connections (commands issued in the same tick share one
 * socket write), each compared with rate-limiter-flexible on the same options.
 *
 * Redis starts on the first measured call (not when the suite file is loaded, which every
 * benchmark process does) and stops once no batch has run for two seconds, or at exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fromIoredis,
  Gcra,
  RedisRateLimiter,
  SlidingWindow,
  TokenBucket,
} from '@proxykit/rate-limit';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { defineSuite, type Suite } from '../harness.js';

const CONCURRENCY = 50;
const PER_CALLER = 20;
const DECISIONS = CONCURRENCY * PER_CALLER;
const HUGE = 1e9;
const IDLE_SHUTDOWN_MS = 2_000;

interface Fixture {
  readonly server: ChildProcess;
  readonly dir: string;
  readonly clients: Redis[];
  readonly decide: Record<string, (key: string) => Promise<unknown>>;
}

let fixture: Promise<Fixture> | undefined;
let storeError: unknown;
let idle: NodeJS.Timeout | undefined;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function start(): Promise<Fixture> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'proxykit-bench-redis-'));
  const server = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  );
  process.on('exit', () => server.kill('SIGKILL'));
  const connect = async (enableAutoPipelining = false): Promise<Redis> => {
    // The recommended options of the README, for both libraries alike.
    const client = new Redis({
      host: '127.0.0.1',
      port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2_000,
      retryStrategy: () => 20,
      enableAutoPipelining,
    });
    client.on('error', () => undefined);
    try {
      await once(client, 'ready');
    } catch (error) {
      client.disconnect(); // or it would keep reconnecting, and keep the process alive
      throw error;
    }
    return client;
  };
  const deadline = Date.now() + 10_000;
  let first: Redis | undefined;
  while (first === undefined) {
    try {
      first = await connect();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const clients = [
    first,
    await connect(),
    await connect(),
    await connect(true),
    await connect(true),
  ];
  const [theirsClient, oursClient, floorClient, theirsPipelined, oursPipelined] = clients as [
    Redis,
    Redis,
    Redis,
    Redis,
    Redis,
  ];
  const theirsOn = (client: Redis, keyPrefix: string): RateLimiterRedis =>
    new RateLimiterRedis({
      storeClient: client,
      useRedisPackage: false,
      points: HUGE,
      duration: 60,
      keyPrefix,
    });
  const theirs = theirsOn(theirsClient, 'rlflx');
  const theirsAuto = theirsOn(theirsPipelined, 'rlflx-auto');
  const ours = (
    name: string,
    limiter: TokenBucket | Gcra | SlidingWindow,
    client = oursClient,
  ): RedisRateLimiter => {
    const made = new RedisRateLimiter({
      client: fromIoredis(client),
      limiter,
      keyPrefix: `pk:${name}:`,
    });
    // A decision the failure policy made instead of Redis must not pass for a fast one.
    made.onStoreError(({ error }) => {
      storeError ??= error;
    });
    return made;
  };
  const gcra = ours('gcra', new Gcra({ limit: HUGE, periodMs: 60_000, burst: HUGE }));
  const bucket = ours('bucket', new TokenBucket({ capacity: HUGE, refillPerSecond: 1000 }));
  const window = ours('window', new SlidingWindow({ limit: HUGE, windowMs: 60_000 }));
  const gcraAuto = ours(
    'gcra-auto',
    new Gcra({ limit: HUGE, periodMs: 60_000, burst: HUGE }),
    oursPipelined,
  );
  const gcraNoTimeout = new RedisRateLimiter({
    client: fromIoredis(oursClient),
    limiter: new Gcra({ limit: HUGE, periodMs: 60_000, burst: HUGE }),
    keyPrefix: 'pk:gcra2:',
    timeoutMs: Infinity,
  });
  gcraNoTimeout.onStoreError(({ error }) => {
    storeError ??= error;
  });
  const floorSha = (await floorClient.script('LOAD', 'return 0')) as string;
  return {
    server,
    dir,
    clients,
    decide: {
      theirs: (key) => theirs.consume(key),
      gcra: (key) => gcra.admit(key),
      bucket: (key) => bucket.admit(key),
      window: (key) => window.admit(key),
      gcraNoTimeout: (key) => gcraNoTimeout.admit(key),
      floor: (key) => floorClient.evalsha(floorSha, 1, key),
      theirsAuto: (key) => theirsAuto.consume(key),
      gcraAuto: (key) => gcraAuto.admit(key),
    },
  };
}

async function stop(): Promise<void> {
  const running = fixture;
  fixture = undefined;
  if (running === undefined) return;
  const { server, dir, clients } = await running;
  for (const client of clients) client.disconnect();
  if (server.exitCode === null && server.signalCode === null) {
    const exited = once(server, 'exit');
    server.kill('SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Runs one batch: `CONCURRENCY` callers making `PER_CALLER` decisions each, in parallel. */
function batch(name: string): () => Promise<void> {
  const keys = Array.from({ length: CONCURRENCY }, (_, i) => `caller-${String(i)}`);
  return async () => {
    if (idle !== undefined) clearTimeout(idle);
    const { decide } = await (fixture ??= start());
    const one = decide[name];
    if (one === undefined) throw new Error(`no decision named ${name}`);
    await Promise.all(
      keys.map(async (key) => {
        for (let i = 0; i < PER_CALLER; i++) await one(key);
      }),
    );
    if (storeError !== undefined)
      throw new Error('Redis failed during the run', { cause: storeError });
    idle = setTimeout(() => void stop(), IDLE_SHUTDOWN_MS);
  };
}

const theirsAutoCase = 'rate-limiter-flexible RateLimiterRedis.consume, auto-pipelined';
const oursAutoCase = 'proxykit RedisRateLimiter.admit (GCRA), auto-pipelined';

const suite: Suite = defineSuite({
  name: 'rate-limit-redis',
  baseline: 'rate-limiter-flexible RateLimiterRedis.consume',
  callsPerIteration: DECISIONS,
  cases: {
    'rate-limiter-flexible RateLimiterRedis.consume': batch('theirs'),
    'proxykit RedisRateLimiter.admit (GCRA)': batch('gcra'),
    'proxykit RedisRateLimiter.admit (token bucket)': batch('bucket'),
    'proxykit RedisRateLimiter.admit (sliding window, 10 buckets)': batch('window'),
    'proxykit RedisRateLimiter.admit (GCRA, timeoutMs: Infinity)': batch('gcraNoTimeout'),
    'floor: EVALSHA of return 0': batch('floor'),
    [theirsAutoCase]: batch('theirsAuto'),
    [oursAutoCase]: batch('gcraAuto'),
  },
  overrides: { [oursAutoCase]: { baseline: theirsAutoCase } },
  targets: [
    { case: 'proxykit RedisRateLimiter.admit (GCRA)', maxRatio: 1 },
    { case: 'proxykit RedisRateLimiter.admit (token bucket)', maxRatio: 1 },
  ],
});

export default suite;

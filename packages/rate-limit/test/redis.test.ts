/**
 * Why: the Redis limiter's promises — the same decisions as the local algorithms, one limit
 * shared by separate processes, a Redis crash handled by the configured policy without an
 * unhandled rejection, and recovery once Redis is back — are only worth something against a
 * real redis-server and the real ioredis client.
 */
import { fc } from '@fast-check/vitest';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FallbackChangeEvent,
  fromIoredis,
  Gcra,
  type KeyableLimiter,
  type RedisFailurePolicy,
  RedisRateLimiter,
  SlidingWindow,
  type StoreErrorEvent,
  TokenBucket,
} from '../src/index.js';
import { scriptPlan } from '../src/redis-scripts.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 5 ms until it holds; fails after `timeoutMs`. */
async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms: ${what}`);
    await sleep(5);
  }
}

/** The client options the README recommends: fail fast while Redis is down, reconnect quickly. */
function client(server: RedisServer): Redis {
  const redis = new Redis({
    host: server.host,
    port: server.port,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    connectTimeout: 1_000,
    retryStrategy: () => 50,
  });
  redis.on('error', () => undefined); // reported through the limiter's onStoreError
  return redis;
}

describe('RedisRateLimiter against a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  const workers: ChildProcessWithoutNullStreams[] = [];

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    server = await startRedisServer();
    redis = client(server);
    await once(redis, 'ready');
  }, 30_000);

  afterAll(async () => {
    for (const worker of workers) worker.kill('SIGKILL');
    redis.disconnect();
    await server.destroy();
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  }, 30_000);

  // Factories, not instances: fast-check replays values while shrinking, and a limiter has state.
  const configs: readonly { name: string; limiter: fc.Arbitrary<() => KeyableLimiter> }[] = [
    {
      name: 'TokenBucket',
      limiter: fc
        .record({
          capacity: fc.oneof(
            fc.integer({ min: 1, max: 20 }),
            fc.double({ min: 1, max: 20, noNaN: true }),
          ),
          // Slow refills: keys live (TTL) far longer than a run takes in real time, since the
          // server expires them on its own clock while the test moves time by hand.
          refillPerSecond: fc.constantFrom(0.3, 1 / 3, 0.5, 1),
        })
        .map((o) => () => new TokenBucket(o)),
    },
    {
      name: 'Gcra',
      limiter: fc
        .record({
          limit: fc.integer({ min: 1, max: 20 }),
          burst: fc.double({ min: 0, max: 1, noNaN: true }),
        })
        .map(
          ({ limit, burst }) =>
            () =>
              new Gcra({ limit, periodMs: 60_000, burst: Math.max(1, Math.round(burst * limit)) }),
        ),
    },
    {
      name: 'SlidingWindow',
      limiter: fc
        .record({
          limit: fc.integer({ min: 1, max: 20 }),
          buckets: fc.integer({ min: 1, max: 12 }),
        })
        .map((o) => () => new SlidingWindow({ ...o, windowMs: 60_000 })),
    },
  ];

  let run = 0;
  it.each(configs)(
    'decides exactly as the local $name does, given the same times',
    async ({ limiter }) => {
      await fc.assert(
        fc.asyncProperty(
          limiter,
          fc.integer({ min: 1e12, max: 2e12 }),
          fc.array(
            fc.record({
              gapMs: fc.oneof(
                fc.constant(0),
                fc.integer({ min: 0, max: 5_000 }),
                fc.double({ min: 0, max: 500, noNaN: true }),
              ),
              costShare: fc.double({ min: 0, max: 1, noNaN: true }),
            }),
            { minLength: 1, maxLength: 40 },
          ),
          async (make, start, calls) => {
            const local = make();
            const plan = scriptPlan(local);
            const key = `equivalence:${String(run++)}`;
            const integer = !(local instanceof TokenBucket);
            let now = start; // Redis-like epoch milliseconds
            for (const { gapMs, costShare } of calls) {
              now += gapMs;
              const cost = integer
                ? Math.max(1, Math.round(costShare * local.maxCost))
                : Math.max(0.5, costShare * local.maxCost);
              const expected = local.admit(cost, now);
              const micros = (await redis.eval(
                plan.source,
                1,
                key,
                ...plan.args(cost, now),
              )) as number;
              if (expected === 0) {
                expect(micros).toBe(0);
              } else {
                // Redis answers in whole microseconds, rounded up. The local search for the
                // first instant in the next bucket steps by two units in the last place of `now`
                // (about 0.5 µs at epoch milliseconds), so it may land up to one step past the
                // earliest whole microsecond that Redis finds.
                const step = (Math.abs(now) + expected) * 2 * Number.EPSILON;
                expect(micros).toBeGreaterThan(0);
                expect(micros / 1000).toBeGreaterThanOrEqual(expected - step - 1e-6);
                expect(micros / 1000).toBeLessThan(expected + 0.001 + 1e-6);
              }
            }
          },
        ),
        { numRuns: 25 },
      );
    },
    30_000,
  );

  it('charges a cost too small to move the schedule at epoch times, as the local limiter does', async () => {
    // At 1.7e12 ms one unit in the last place is 2.4e-4 ms; each call books 5.2e-5 ms, less than
    // half of it. The slow refill keeps the key's TTL (the time until the bucket is full again)
    // near a minute: with a fast one it lasted 52 ms, and on a slow machine the key expired
    // between calls, so a call found a fresh, full bucket.
    const plan = scriptPlan(new TokenBucket({ capacity: 50, refillPerSecond: 0.9609 }));
    const now = 1.7e12;
    const decide = async (cost: number): Promise<number> =>
      (await redis.eval(plan.source, 1, 'tiny-cost', ...plan.args(cost, now))) as number;
    expect(await decide(50)).toBe(0); // full
    let admitted = 0;
    for (let i = 0; i < 100; i++) if ((await decide(50e-9)) === 0) admitted++;
    expect(admitted).toBeLessThanOrEqual(1);
  });

  it('sets a TTL that ends when the key is fresh again, so idle keys vanish', async () => {
    const limiter = new RedisRateLimiter({
      client: fromIoredis(redis),
      limiter: new TokenBucket({ capacity: 10, refillPerSecond: 100 }),
      keyPrefix: 'ttl:',
    });
    expect(await limiter.admit('k', 5)).toBe(0); // 5 tokens short: full again in 50 ms
    const ttl = await redis.pttl('ttl:k');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(50);
    await waitFor('the key to expire', async () => (await redis.exists('ttl:k')) === 0, 2_000);
    const window = new RedisRateLimiter({
      client: fromIoredis(redis),
      limiter: new SlidingWindow({ limit: 5, windowMs: 100, buckets: 4 }),
      keyPrefix: 'ttl-window:',
    });
    expect(await window.admit('k')).toBe(0);
    expect(await redis.pttl('ttl-window:k')).toBeLessThanOrEqual(125);
    await waitFor(
      'the window to expire',
      async () => (await redis.exists('ttl-window:k')) === 0,
      2_000,
    );
  });

  it('three processes share one limit and together admit no more than it', async () => {
    const prefix = `shared:${String(Date.now())}`;
    const attempts = 300; // per process and limit: 900 attempts against a limit of 100
    const started = Array.from({ length: 3 }, () => {
      const worker = spawn(
        process.execPath,
        [
          '--import',
          tsx,
          'test/shared-limit-worker.ts',
          String(server.port),
          prefix,
          String(attempts),
        ],
        { cwd: packageDir, stdio: 'pipe' },
      );
      workers.push(worker);
      let stderr = '';
      worker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const lines = createInterface({ input: worker.stdout });
      const output: string[] = [];
      const ready = new Promise<void>((resolve, reject) => {
        lines.on('line', (line) => {
          output.push(line);
          if (line === 'ready') resolve();
        });
        worker.once('exit', (code) => {
          reject(new Error(`worker exited (${String(code)}) before ready: ${stderr}`));
        });
      });
      const done = new Promise<{ admitted: Record<string, number>; storeErrors: number }>(
        (resolve, reject) => {
          worker.once('exit', (code) => {
            const last = output.at(-1);
            if (code === 0 && last !== undefined) resolve(JSON.parse(last) as never);
            else reject(new Error(`worker exited with ${String(code)}: ${stderr}`));
          });
        },
      );
      done.catch(() => undefined); // awaited below; do not report it as unhandled meanwhile
      return { worker, ready, done };
    });
    await Promise.all(started.map((w) => w.ready));
    const goAt = Date.now();
    for (const { worker } of started) worker.stdin.write('go\n');
    const results = await Promise.all(started.map((w) => w.done));
    const elapsedSeconds = (Date.now() - goAt) / 1000;
    const total = (name: string): number =>
      results.reduce((sum, r) => sum + (r.admitted[name] ?? 0), 0);
    expect(results.map((r) => r.storeErrors)).toEqual([0, 0, 0]);
    for (const name of ['tokenBucket', 'gcra', 'slidingWindow']) {
      expect(total(name)).toBe(100); // exactly the limit: never more, and no call lost
      for (const r of results) expect(r.admitted[name]).toBeLessThan(100); // all three got some
    }
    // 20 at once and 50 per second: over the whole run, no more than that, shared.
    expect(total('tokenBucketRate')).toBeGreaterThan(20);
    expect(total('tokenBucketRate')).toBeLessThanOrEqual(20 + 50 * elapsedSeconds + 1);
  }, 30_000);

  it('falls back when Redis is killed mid-test, without an unhandled rejection, and resumes when it restarts', async () => {
    const errors: StoreErrorEvent[] = [];
    const changes: FallbackChangeEvent[] = [];
    const capacity = 10;
    const make = (name: string, onStoreFailure: RedisFailurePolicy) =>
      new RedisRateLimiter({
        client: fromIoredis(redis),
        limiter: new TokenBucket({ capacity, refillPerSecond: 0.001 }),
        keyPrefix: `crash:${name}:`,
        onStoreFailure,
        recoveryIntervalMs: 200,
        timeoutMs: 500,
      });
    const limiter = make('local', { fallback: 'local', share: 0.5 });
    const closed = make('closed', 'fail-closed');
    const open = make('open', 'fail-open');
    limiter.onStoreError((e) => errors.push(e));
    limiter.onFallbackChange((e) => changes.push(e));
    const drain = async (l: RedisRateLimiter, key: string): Promise<number> => {
      let admitted = 0;
      for (let i = 0; i < 2 * capacity; i++) if ((await l.admit(key)) === 0) admitted++;
      return admitted;
    };

    // Up: Redis decides.
    expect(await drain(limiter, 'before')).toBe(capacity);
    expect(limiter.fallbackActive).toBe(false);

    // Killed mid-test: calls keep being answered, by the policy, and the switch is reported once.
    const traffic = (async () => {
      while (!limiter.fallbackActive) await limiter.admit('traffic');
    })();
    await server.kill();
    await traffic;
    expect(changes).toHaveLength(1);
    expect(changes[0]?.active).toBe(true);
    expect(changes[0]?.policy).toBe('fallback');
    expect(errors.length).toBeGreaterThanOrEqual(1);
    // The local fallback holds half the limit per key.
    expect(await drain(limiter, 'during')).toBe(capacity / 2);
    expect(await closed.admit('k')).toBeGreaterThan(0);
    expect(await open.admit('k')).toBe(0);
    expect([closed.fallbackActive, open.fallbackActive]).toEqual([true, true]);

    // Restarted (empty, without the script): the next probe finds it and Redis decides again.
    await server.start();
    await waitFor(
      'the limiter to use Redis again',
      async () => {
        await limiter.admit('probe');
        return !limiter.fallbackActive;
      },
      10_000,
    );
    expect(changes.map((c) => c.active)).toEqual([true, false]);
    expect(await drain(limiter, 'after')).toBe(capacity); // the full limit: Redis decides
    await waitFor('the others to recover', async () => {
      await Promise.all([closed.admit('k2'), open.admit('k2')]);
      return !closed.fallbackActive && !open.fallbackActive;
    });
    await sleep(20);
    expect(unhandled).toEqual([]);
  }, 30_000);
});

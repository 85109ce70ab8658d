/**
 * One of the separate processes of redis.test.ts: `node --import tsx test/shared-limit-worker.ts
 * <port> <keyPrefix> <attempts>`. Connects to Redis, prints `ready`, waits for `go` on stdin, then
 * hammers four shared limits at once (20 calls in flight per limit) and prints, as JSON, how many
 * calls each limit admitted in this process. Fails closed, so that a Redis error could only lower
 * the counts; reports store errors so the test can insist there were none.
 */
import { Redis } from 'ioredis';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import {
  fromIoredis,
  Gcra,
  type KeyableLimiter,
  RedisRateLimiter,
  SlidingWindow,
  TokenBucket,
} from '../src/index.js';

const [port, prefix, attemptsArg] = process.argv.slice(2);
const attempts = Number(attemptsArg);
const CONCURRENCY = 20;
/** How long the refill scenario keeps asking, in ms. */
const RATE_SCENARIO_MS = 800;

const redis = new Redis({
  host: '127.0.0.1',
  port: Number(port),
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 2_000,
});
redis.on('error', () => undefined); // store errors are counted below
await once(redis, 'ready');

const scenarios: Record<string, KeyableLimiter> = {
  // Caps: the refill is so slow that the whole test can admit at most the capacity / limit.
  tokenBucket: new TokenBucket({ capacity: 100, refillPerSecond: 0.001 }),
  gcra: new Gcra({ limit: 100, periodMs: 600_000, burst: 100 }),
  slidingWindow: new SlidingWindow({ limit: 100, windowMs: 600_000, buckets: 10 }),
  // A rate: 20 at once, then 50 per second, shared.
  tokenBucketRate: new TokenBucket({ capacity: 20, refillPerSecond: 50 }),
};

let storeErrors = 0;
const admitted: Record<string, number> = {};
const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const line of lines) if (line.trim() === 'go') break;
lines.close();

await Promise.all(
  Object.entries(scenarios).map(async ([name, limiter]) => {
    const shared = new RedisRateLimiter({
      client: fromIoredis(redis),
      limiter,
      keyPrefix: `${String(prefix)}:${name}:`,
      onStoreFailure: 'fail-closed',
      timeoutMs: 2_000,
    });
    shared.onStoreError(() => {
      storeErrors++;
    });
    admitted[name] = 0;
    const rate = name === 'tokenBucketRate';
    const deadline = Date.now() + RATE_SCENARIO_MS;
    let left = attempts;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (rate ? Date.now() < deadline : left-- > 0) {
          if ((await shared.admit('shared')) === 0) admitted[name] = (admitted[name] ?? 0) + 1;
          if (rate) await new Promise((resolve) => setTimeout(resolve, 2));
        }
      }),
    );
  }),
);

process.stdout.write(`${JSON.stringify({ admitted, storeErrors })}\n`);
redis.disconnect();

/**
 * Run by keyed-memory.test.ts as `node --expose-gc --import tsx test/keyed-memory-child.ts`:
 * sends 1 000 000 distinct keys through a KeyedRateLimiter capped at 10 000 keys, for each kind
 * of per-key state, and prints the retained heap (after forced garbage collection) as JSON.
 */
import { Gcra, KeyedRateLimiter, SlidingWindow, TokenBucket } from '../src/index.js';
import type { KeyableLimiter } from '../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

const KEYS = 1_000_000;
const MAX_KEYS = 10_000;
const kinds: Record<string, () => KeyableLimiter> = {
  Gcra: () => new Gcra({ limit: 100, periodMs: 60_000, burst: 10 }),
  TokenBucket: () => new TokenBucket({ capacity: 20, refillPerSecond: 10 }),
  SlidingWindow: () => new SlidingWindow({ limit: 100, windowMs: 60_000, buckets: 10 }),
};

const results = [];
for (const [kind, make] of Object.entries(kinds)) {
  const before = heapUsed();
  const keyed = new KeyedRateLimiter<string>({ limiter: make(), maxKeys: MAX_KEYS });
  let atCap = 0;
  // A fresh key every call, on a clock that moves 1 µs per call: every key stays "limited".
  for (let i = 0; i < KEYS; i++) {
    keyed.admit(`203.0.113.${String(i)}`, 1, i / 1000);
    if (i + 1 === MAX_KEYS) atCap = heapUsed();
  }
  const after = heapUsed();
  results.push({
    kind,
    keys: KEYS,
    maxKeys: MAX_KEYS,
    size: keyed.size,
    evictions: keyed.evictions,
    growthBytes: after - before,
    atCapBytes: atCap - before,
    bytesPerKey: (after - before) / MAX_KEYS,
  });
  keyed.clear();
}
process.stdout.write(`${JSON.stringify(results)}\n`);

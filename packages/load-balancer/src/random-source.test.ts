import { describe, expect, it } from 'vitest';
import { seededRandom } from './random-source.js';

describe('seededRandom', () => {
  it('repeats its sequence for a seed, stays in [0, 1) and is roughly uniform', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const x = a();
      expect(b()).toBe(x);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      buckets[Math.floor(x * 10)]!++;
    }
    for (const count of buckets) expect(count).toBeGreaterThan(900);
    expect(seededRandom(8)()).not.toBe(seededRandom(7)());
  });
});

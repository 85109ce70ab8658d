import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { PeakEwma } from './peak-ewma.js';
import { seededRandom } from './random-source.js';
import type { UpstreamEntry } from './upstream-entry.js';

function respond(lb: PeakEwma, clock: VirtualClock, entry: UpstreamEntry, latencyMs: number): void {
  const started = lb.begin(entry);
  clock.advance(latencyMs);
  lb.end(entry, started);
}

describe('PeakEwma', () => {
  it('starts at defaultRttMs, jumps to a slower response, decays with time and averages faster ones in', () => {
    const clock = new VirtualClock();
    const lb = new PeakEwma({
      upstreams: [{ name: 'a' }],
      decayMs: 1_000,
      defaultRttMs: 30,
      clock,
    });
    const a = lb.get('a')!;
    expect(a.latencyMs).toBe(30);
    respond(lb, clock, a, 100);
    expect(a.latencyMs).toBe(100); // the first response sets it
    clock.advance(1_000);
    expect(a.latencyMs).toBeCloseTo(100 / Math.E); // decays towards zero: e^(-t / decay)
    respond(lb, clock, a, 200);
    expect(a.latencyMs).toBe(200); // a peak replaces the estimate at once
    clock.advance(100);
    const decayed = 200 * Math.exp(-0.2);
    respond(lb, clock, a, 100); // 100 ms later a 100 ms response: averaged in with weight 1 − e^(−0.2)
    const w = Math.exp(-0.2);
    expect(a.latencyMs).toBeCloseTo(decayed * w + 100 * (1 - w));
    expect(a.toJSON().latencyMs).toBeCloseTo(decayed * w + 100 * (1 - w));
  });

  test.prop([
    fc.array(fc.record({ gap: fc.nat(5_000), latency: fc.integer({ min: 1, max: 1_000 }) }), {
      minLength: 1,
      maxLength: 30,
    }),
  ])(
    'the estimate stays between the last response and the decayed previous peak, and never reads higher than it was set',
    (responses) => {
      const clock = new VirtualClock();
      const lb = new PeakEwma({ upstreams: [{ name: 'a' }], decayMs: 2_000, clock });
      const a = lb.get('a')!;
      for (const { gap, latency } of responses) {
        clock.advance(gap);
        const before = a.latencyMs!;
        respond(lb, clock, a, latency);
        const after = a.latencyMs!;
        expect(after).toBeGreaterThanOrEqual(Math.min(latency, before) - 1e-9);
        expect(after).toBeLessThanOrEqual(Math.max(latency, before) + 1e-9);
        clock.advance(1);
        expect(a.latencyMs!).toBeLessThanOrEqual(after);
      }
    },
  );

  it('sends most calls to the faster upstream and still spreads load by in-flight count', () => {
    const clock = new VirtualClock();
    const lb = new PeakEwma({
      upstreams: [{ name: 'fast' }, { name: 'slow' }],
      clock,
      random: seededRandom(1),
    });
    respond(lb, clock, lb.get('fast')!, 10);
    respond(lb, clock, lb.get('slow')!, 100);
    // Cost = latency × (in-flight + 1): fast wins until it has ~10× slow's calls in flight.
    const started = Array.from({ length: 21 }, () => lb.begin(lb.pickEntry()!));
    expect(started).toHaveLength(21);
    expect(lb.get('fast')!.inFlight).toBe(20);
    expect(lb.get('slow')!.inFlight).toBe(1);
  });

  it('does not let an upstream that stops answering look fast: the estimate is at least the age of its calls', () => {
    const clock = new VirtualClock();
    const lb = new PeakEwma({
      upstreams: [{ name: 'hung' }, { name: 'ok' }],
      decayMs: 1_000,
      clock,
      random: seededRandom(2),
    });
    const hung = lb.get('hung')!;
    const ok = lb.get('ok')!;
    respond(lb, clock, hung, 5);
    respond(lb, clock, ok, 50);
    lb.begin(hung); // never answers
    for (let i = 0; i < 50; i++) {
      clock.advance(200);
      respond(lb, clock, ok, 50);
    }
    // 10 s later the hung upstream's 5 ms estimate has decayed to nothing, but its call is 10 s old.
    let toHung = 0;
    for (let i = 0; i < 100; i++) if (lb.pick()?.name === 'hung') toHung++;
    expect(toHung).toBe(0);
  });

  it('validates its options', () => {
    expect(() => new PeakEwma({ decayMs: 0 })).toThrow(
      'PeakEwma: decayMs must be a number in (0, 2147483647], got 0',
    );
    expect(() => new PeakEwma({ defaultRttMs: -1 })).toThrow(/defaultRttMs/);
  });
});

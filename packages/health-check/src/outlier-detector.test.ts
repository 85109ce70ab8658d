import diagnostics from 'node:diagnostics_channel';
import { fc, test } from '@fast-check/vitest';
import { isFailure, TimeoutError, VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import type { EjectionSkippedEvent, HealthChangeEvent } from './health-events.js';
import { maxEjectedFor, OutlierDetector } from './outlier-detector.js';

const refused = (): Error =>
  Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

/** The detector's rules written out plainly, for comparison on random streams of outcomes. */
class Model {
  readonly slots: { fails: number; until: number; ejections: number }[];
  constructor(
    readonly n: number,
    readonly cfg: {
      consecutiveFailures: number;
      baseEjectionMs: number;
      maxEjectionMs: number;
      maxEjectionPercent: number;
      ejectionDecayMs: number;
    },
  ) {
    this.slots = Array.from({ length: n }, () => ({ fails: 0, until: -Infinity, ejections: 0 }));
  }

  ejectedAt(now: number): number {
    return this.slots.filter((s) => now < s.until).length;
  }

  success(i: number): void {
    this.slots[i]!.fails = 0;
  }

  /** Returns the ejection duration, 'skipped', or undefined. */
  failure(i: number, now: number): number | 'skipped' | undefined {
    const s = this.slots[i]!;
    if (now < s.until) return undefined;
    s.fails++;
    if (s.fails < this.cfg.consecutiveFailures) return undefined;
    if (this.ejectedAt(now) >= maxEjectedFor(this.n, this.cfg.maxEjectionPercent)) return 'skipped';
    const decayed =
      s.ejections === 0
        ? 0
        : Math.max(0, s.ejections - Math.floor((now - s.until) / this.cfg.ejectionDecayMs));
    s.ejections = Math.min(
      decayed + 1,
      Math.ceil(this.cfg.maxEjectionMs / this.cfg.baseEjectionMs),
    );
    const duration = Math.min(this.cfg.baseEjectionMs * s.ejections, this.cfg.maxEjectionMs);
    s.until = now + duration;
    s.fails = 0;
    return duration;
  }
}

const command = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('failure' as const), upstream: fc.nat(9) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('success' as const), upstream: fc.nat(9) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 150 }),
    }),
  },
);

describe('maxEjectedFor (the ejection cap)', () => {
  it('allows floor(p·N/100), at least one, never all N — except at 0 % and 100 %', () => {
    const table = (
      [
        [1, 10, 0],
        [2, 10, 1],
        [3, 10, 1],
        [10, 10, 1],
        [20, 10, 2],
        [30, 10, 3],
        [3, 50, 1],
        [4, 50, 2],
        [5, 99, 4],
        [10, 99, 9],
        [4, 100, 4],
        [1, 100, 1],
        [5, 0, 0],
        [0, 50, 0],
      ] as const
    ).map(([n, p]) => [n, p, maxEjectedFor(n, p)]);
    expect(table).toEqual([
      [1, 10, 0],
      [2, 10, 1],
      [3, 10, 1],
      [10, 10, 1],
      [20, 10, 2],
      [30, 10, 3],
      [3, 50, 1],
      [4, 50, 2],
      [5, 99, 4],
      [10, 99, 9],
      [4, 100, 4],
      [1, 100, 1],
      [5, 0, 0],
      [0, 50, 0],
    ]);
  });
});

describe('OutlierDetector', () => {
  test.prop(
    [
      fc.record({
        n: fc.integer({ min: 1, max: 10 }),
        consecutiveFailures: fc.integer({ min: 1, max: 3 }),
        baseEjectionMs: fc.integer({ min: 10, max: 100 }),
        maxFactor: fc.integer({ min: 1, max: 6 }),
        maxEjectionPercent: fc.oneof(
          fc.constantFrom(0, 10, 25, 50, 100),
          fc.double({ min: 0, max: 100, noNaN: true }),
        ),
        ejectionDecayMs: fc.integer({ min: 10, max: 300 }),
      }),
      fc.array(command, { minLength: 20, maxLength: 300 }),
    ],
    { numRuns: 300 },
  )(
    'never ejects more than the cap, and ejects exactly as the model says, for as long as it says',
    (p, commands) => {
      const cfg = {
        consecutiveFailures: p.consecutiveFailures,
        baseEjectionMs: p.baseEjectionMs,
        maxEjectionMs: p.baseEjectionMs * p.maxFactor + (p.maxFactor > 2 ? 7 : 0), // not always a multiple
        maxEjectionPercent: p.maxEjectionPercent,
        ejectionDecayMs: p.ejectionDecayMs,
      };
      const clock = new VirtualClock();
      const names = Array.from({ length: p.n }, (_, i) => `u${i}`);
      const detector = new OutlierDetector({ ...cfg, clock, upstreams: names });
      const model = new Model(p.n, cfg);
      const cap = maxEjectedFor(p.n, cfg.maxEjectionPercent);
      expect(detector.maxEjected).toBe(cap);
      const ejections: HealthChangeEvent[] = [];
      let skipped = 0;
      detector.onHealthChange((e) => {
        if (e.reason === 'ejected') ejections.push(e);
      });
      detector.onEjectionSkipped(() => skipped++);
      const lastEnd = new Map<string, { end: number; duration: number }>();
      let expectedSkips = 0;
      for (const cmd of commands) {
        const now = clock.now();
        if (cmd.kind === 'advance') clock.advance(cmd.ms);
        else {
          const i = cmd.upstream % p.n;
          const name = names[i]!;
          if (cmd.kind === 'success') {
            detector.report(name, 'success');
            model.success(i);
          } else {
            const before = ejections.length;
            detector.report(name, 'upstream');
            const expected = model.failure(i, now);
            if (expected === 'skipped') expectedSkips++;
            if (typeof expected === 'number') {
              expect(ejections.length).toBe(before + 1);
              const event = ejections.at(-1)!;
              expect(event).toMatchObject({
                upstream: name,
                from: 'healthy',
                to: 'ejected',
                ejectedForMs: expected,
              });
              // Durations are base × n, capped; back-to-back ejections (no decay step between) grow.
              expect(expected).toBeLessThanOrEqual(cfg.maxEjectionMs);
              expect(expected === cfg.maxEjectionMs || expected % cfg.baseEjectionMs === 0).toBe(
                true,
              );
              const previous = lastEnd.get(name);
              if (previous !== undefined && now - previous.end < cfg.ejectionDecayMs) {
                if (previous.duration < cfg.maxEjectionMs)
                  expect(expected).toBeGreaterThan(previous.duration);
                else expect(expected).toBe(cfg.maxEjectionMs);
              }
              lastEnd.set(name, { end: now + expected, duration: expected });
            } else {
              expect(ejections.length).toBe(before);
            }
          }
        }
        // At every step: the cap holds, and each upstream is ejected exactly when the model says.
        const t = clock.now();
        const ejectedNow = names.filter((name) => detector.isEjected(name));
        expect(ejectedNow.length).toBeLessThanOrEqual(cap);
        expect(detector.ejectedCount).toBe(ejectedNow.length);
        expect(ejectedNow.length).toBe(model.ejectedAt(t));
        names.forEach((name, i) => {
          expect(detector.isAvailable(name)).toBe(!(t < model.slots[i]!.until));
        });
      }
      expect(skipped).toBe(expectedSkips);
      if (cap === 0) expect(ejections).toEqual([]);
    },
  );

  it('validates its options with RangeErrors naming the option and the range', () => {
    expect(() => new OutlierDetector({ consecutiveFailures: 0 })).toThrow(
      'OutlierDetector: consecutiveFailures must be an integer >= 1, got 0',
    );
    expect(() => new OutlierDetector({ baseEjectionMs: 0 })).toThrow(
      /baseEjectionMs must be a number in \(0,/,
    );
    expect(() => new OutlierDetector({ baseEjectionMs: 1_000, maxEjectionMs: 999 })).toThrow(
      'OutlierDetector: maxEjectionMs must be a number in [1000, 2147483647], got 999',
    );
    expect(() => new OutlierDetector({ maxEjectionPercent: 101 })).toThrow(
      'OutlierDetector: maxEjectionPercent must be a number in [0, 100], got 101',
    );
    expect(() => new OutlierDetector({ ejectionDecayMs: -5 })).toThrow(/ejectionDecayMs/);
    expect(() => new OutlierDetector({ classifier: {} as never })).toThrow(TypeError);
    expect(() => new OutlierDetector({ upstreams: [''] })).toThrow(TypeError);
    const defaults = new OutlierDetector();
    expect([
      defaults.consecutiveFailures,
      defaults.baseEjectionMs,
      defaults.maxEjectionMs,
      defaults.maxEjectionPercent,
    ]).toEqual([5, 30_000, 300_000, 10]);
  });

  it('ejects after exactly consecutiveFailures gateway failures; other outcomes reset the count', () => {
    const clock = new VirtualClock();
    const detector = new OutlierDetector({
      upstreams: ['a', 'b', 'c'],
      consecutiveFailures: 3,
      maxEjectionPercent: 50,
      clock,
    });
    detector.report('a', 'upstream');
    detector.report('a', 'timeout');
    detector.report('a', 'success');
    detector.report('a', 'transient');
    detector.report('a', 'upstream');
    detector.report('a', 'client'); // a 4xx is the caller's problem: resets
    detector.report('a', 'upstream');
    detector.report('a', 'upstream');
    detector.report('a', 'cancelled'); // the caller's abort: not counted, not a reset
    expect(detector.statusOf('a')).toMatchObject({ ejected: false, consecutiveFailures: 2 });
    detector.report('a', 'permanent'); // a 500 is not a gateway failure by default: resets
    detector.report('a', 'upstream');
    detector.report('a', 'upstream');
    expect(detector.isAvailable('a')).toBe(true);
    detector.report('a', 'upstream');
    expect(detector.isAvailable('a')).toBe(false);
    expect(detector.statusOf('a')).toEqual({
      ejected: true,
      ejectedUntil: 30_000,
      ejections: 1,
      consecutiveFailures: 0,
    });
    expect(detector.statusOf('nope')).toBeUndefined();
  });

  it('can count every 5xx (Envoy consecutive_5xx) with a custom isFailure', () => {
    const detector = new OutlierDetector({
      upstreams: ['a', 'b'],
      consecutiveFailures: 2,
      isFailure: (o) => isFailure(o) || o === 'permanent',
      clock: new VirtualClock(),
    });
    const layerLike = (status: number): Promise<{ status: number }> =>
      detector.observe('a', Promise.resolve({ status }));
    return Promise.all([layerLike(500), layerLike(500)]).then(() => {
      expect(detector.isEjected('a')).toBe(true);
    });
  });

  it("classifies observed calls with core's classifier; the caller's abort does not count, a deadline does", async () => {
    const clock = new VirtualClock();
    const detector = new OutlierDetector({ upstreams: ['a', 'b'], consecutiveFailures: 1, clock });
    const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

    const caller = new AbortController();
    caller.abort();
    await detector.observe('a', Promise.reject(refused()), caller.signal).catch(() => undefined);
    await detector.observe('a', Promise.resolve({ status: 404 })).catch(() => undefined);
    await flush();
    expect(detector.isEjected('a')).toBe(false);

    const deadline = new AbortController();
    deadline.abort(new TimeoutError(100));
    await detector
      .observe('a', Promise.reject(new Error('aborted')), deadline.signal)
      .catch(() => undefined);
    await flush();
    expect(detector.isEjected('a')).toBe(true);

    await detector.observe('b', Promise.resolve({ statusCode: 503 }));
    await flush();
    expect(detector.isEjected('b')).toBe(false); // the cap (10 % of 2 → 1) is taken by a
    const unknown = Promise.resolve(1);
    expect(detector.observe('zzz', unknown)).toBe(unknown);
  });

  it('ends an ejection lazily at its end time, ignoring outcomes meanwhile, and reports the return', () => {
    const clock = new VirtualClock();
    const events: string[] = [];
    const detector = new OutlierDetector({
      upstreams: ['a', 'b'],
      consecutiveFailures: 1,
      baseEjectionMs: 1_000,
      clock,
    });
    detector.onHealthChange((e) => events.push(`${e.upstream} ${e.from}→${e.to} ${e.reason}`));
    detector.report('a', 'upstream');
    clock.advance(999);
    detector.report('a', 'upstream'); // a call that ended while ejected: ignored
    expect(detector.isAvailable('a')).toBe(false);
    clock.advance(1);
    expect(detector.isEjected('a')).toBe(false);
    expect(events).toEqual(['a healthy→ejected ejected']); // not noticed yet
    expect(detector.isAvailable({ name: 'a' })).toBe(true);
    expect(events).toEqual(['a healthy→ejected ejected', 'a ejected→healthy ejection-ended']);
    expect(clock.pendingTimers()).toBe(0); // no timers at all
  });

  it('makes repeated ejections longer, up to maxEjectionMs, and lets the multiplier decay with time back', () => {
    const clock = new VirtualClock();
    const durations: number[] = [];
    const detector = new OutlierDetector({
      upstreams: ['a', 'b'],
      consecutiveFailures: 1,
      baseEjectionMs: 100,
      maxEjectionMs: 250,
      ejectionDecayMs: 1_000,
      clock,
    });
    detector.onHealthChange((e) => {
      if (e.ejectedForMs !== undefined) durations.push(e.ejectedForMs);
    });
    for (let i = 0; i < 4; i++) {
      detector.report('a', 'upstream');
      clock.advance((detector.statusOf('a')?.ejectedUntil ?? 0) - clock.now());
    }
    expect(durations).toEqual([100, 200, 250, 250]);
    expect(detector.statusOf('a')?.ejections).toBe(3); // capped at ceil(250 / 100)
    clock.advance(2_000); // two decay steps back in rotation
    detector.report('a', 'upstream');
    expect(durations.at(-1)).toBe(200);
  });

  it('skips an ejection that would exceed the cap and ejects on a later failure once there is room', () => {
    const clock = new VirtualClock();
    const skipped: EjectionSkippedEvent[] = [];
    const detector = new OutlierDetector({
      upstreams: ['a', 'b', 'c'],
      consecutiveFailures: 2,
      baseEjectionMs: 100,
      clock,
    });
    detector.onEjectionSkipped((e) => skipped.push(e));
    expect(detector.maxEjected).toBe(1); // 10 % of 3, but at least one
    detector.report('a', 'upstream');
    detector.report('a', 'upstream');
    detector.report('b', 'upstream');
    detector.report('b', 'upstream');
    expect(detector.isEjected('a')).toBe(true);
    expect(detector.isEjected('b')).toBe(false);
    expect(skipped).toEqual([{ upstream: 'b', ejected: 1, maxEjected: 1 }]);
    expect(detector.statusOf('b')?.consecutiveFailures).toBe(2);
    clock.advance(100);
    detector.report('b', 'upstream'); // a is back: room for b now
    expect(detector.isEjected('b')).toBe(true);
    expect(detector.ejectedCount).toBe(1);
  });

  it('never ejects the only upstream unless maxEjectionPercent is 100', () => {
    const lone = new OutlierDetector({
      upstreams: ['a'],
      consecutiveFailures: 1,
      clock: new VirtualClock(),
    });
    lone.report('a', 'upstream');
    expect(lone.isAvailable('a')).toBe(true);
    const all = new OutlierDetector({
      upstreams: ['a'],
      consecutiveFailures: 1,
      maxEjectionPercent: 100,
      clock: new VirtualClock(),
    });
    all.report('a', 'upstream');
    expect(all.isAvailable('a')).toBe(false);
  });

  it('resets, removes and lists upstreams', () => {
    const clock = new VirtualClock();
    const events: string[] = [];
    const detector = new OutlierDetector({
      upstreams: [{ name: 'a' }, 'b'],
      consecutiveFailures: 1,
      clock,
    });
    detector.onHealthChange((e) => events.push(`${e.from}→${e.to} ${e.reason}`));
    expect(detector.names).toEqual(['a', 'b']);
    detector.report('a', 'upstream');
    detector.reset('a');
    expect(detector.statusOf('a')).toEqual({
      ejected: false,
      ejectedUntil: undefined,
      ejections: 0,
      consecutiveFailures: 0,
    });
    expect(events).toEqual(['healthy→ejected ejected', 'ejected→healthy reset']);
    const slot = detector.slotOf('b');
    expect(detector.remove('b')).toBe(true);
    expect(detector.remove('b')).toBe(false);
    slot?.onError(refused()); // a late outcome for a removed upstream is ignored
    expect(detector.has('b')).toBe(false);
    expect(detector.size).toBe(1);
    detector.report('b', 'upstream');
    expect(detector.isAvailable('b')).toBe(true);
  });

  it('publishes ejections and skipped ejections on its diagnostics channels', () => {
    const received: string[] = [];
    const onChange = (m: unknown): void => {
      const e = m as HealthChangeEvent;
      if (e.upstream.startsWith('diag')) received.push(`${e.upstream} ${e.to}`);
    };
    const onSkip = (m: unknown): void => {
      const e = m as EjectionSkippedEvent;
      if (e.upstream.startsWith('diag')) received.push(`skipped ${e.upstream}`);
    };
    diagnostics.subscribe('proxykit:health-check:health-change', onChange);
    diagnostics.subscribe('proxykit:health-check:ejection-skipped', onSkip);
    try {
      const detector = new OutlierDetector({
        upstreams: ['diag-a', 'diag-b'],
        consecutiveFailures: 1,
        clock: new VirtualClock(),
      });
      detector.report('diag-a', 'upstream');
      detector.report('diag-b', 'upstream');
    } finally {
      diagnostics.unsubscribe('proxykit:health-check:health-change', onChange);
      diagnostics.unsubscribe('proxykit:health-check:ejection-skipped', onSkip);
    }
    expect(received).toEqual(['diag-a ejected', 'skipped diag-b']);
  });
});

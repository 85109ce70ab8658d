import { fc, test } from '@fast-check/vitest';
import { isRateLimitedError, RateLimitedError, VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { type Admission, rounding, steps, worstRateExcess } from '../test/traffic.js';
import { LeakyBucket } from './leaky-bucket.js';

const drain = fc.oneof(
  fc.integer({ min: 1, max: 10_000 }).map((tenths) => tenths / 10),
  fc.constantFrom(1 / 3, 0.3, 2.5, 7),
);
const size = fc.oneof(
  fc.integer({ min: 1, max: 50 }),
  fc.integer({ min: 5, max: 500 }).map((tenths) => tenths / 10),
);

/** One call to the shaper: after a gap, a cost (share of the size) and maybe an abort later. */
const shapeCall = fc.record({
  gapShare: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 3, noNaN: true })),
  costShare: fc.oneof(fc.constant(1), fc.double({ min: 0.01, max: 1, noNaN: true })),
  abortShare: fc.option(fc.double({ min: 0, max: 5, noNaN: true }), { nil: undefined }),
});

interface Outcome {
  readonly arrival: number;
  readonly cost: number;
  state: 'waiting' | 'released' | 'rejected' | 'aborted';
  at: number;
}

describe('LeakyBucket as a meter', () => {
  test.prop([size, drain, fc.integer({ min: 0, max: 1e9 }), steps(3000, 1000)], {
    numRuns: 300,
  })(
    'admits at most queueSize + drainPerSecond · t / 1000 over any interval of t ms; a wait > 0 suffices',
    (queueSize, drainPerSecond, start, traffic) => {
      const clock = new VirtualClock(start);
      const bucket = new LeakyBucket({ queueSize, drainPerSecond, clock });
      const admitted: Admission[] = [];
      for (const step of traffic) {
        clock.advance(step.gapMs);
        const now = clock.now();
        const cost = step.costShare * queueSize;
        for (let i = 0; i < step.tries; i++) {
          const wait = bucket.admit(cost);
          if (wait === 0) {
            admitted.push({ at: now, cost });
            continue;
          }
          expect(wait).toBeGreaterThan(0);
          const probe = new LeakyBucket({ queueSize, drainPerSecond });
          probe.tat = bucket.tat;
          expect(probe.admit(cost, now + wait)).toBe(0);
        }
      }
      expect(worstRateExcess(admitted, queueSize, drainPerSecond / 1000)).toBeLessThanOrEqual(1e-6);
    },
  );
});

describe('LeakyBucket as a shaper', () => {
  test.prop([size, drain, fc.array(shapeCall, { maxLength: 40 })], { numRuns: 150 })(
    'releases in arrival order at exactly the drain rate, queues at most queueSize, rejects only when full, honours aborts and leaves no timer',
    async (queueSize, drainPerSecond, calls) => {
      const clock = new VirtualClock(1_000);
      const bucket = new LeakyBucket({ queueSize, drainPerSecond, clock });
      const interval = 1000 / drainPerSecond; // ms per unit of cost
      const outcomes: Outcome[] = [];
      const released: Outcome[] = [];
      const gaveUp = new Error('gave up');
      for (const call of calls) {
        await clock.advanceAsync(call.gapShare * queueSize * interval);
        const now = clock.now();
        const cost = call.costShare * queueSize;
        const backlog = bucket.backlog(now) + bucket.waitingCost;
        const controller = call.abortShare === undefined ? undefined : new AbortController();
        const outcome: Outcome = { arrival: now, cost, state: 'waiting', at: NaN };
        outcomes.push(outcome);
        bucket.shape(cost, controller?.signal).then(
          () => {
            outcome.state = 'released';
            outcome.at = clock.now();
            released.push(outcome);
          },
          (error: unknown) => {
            outcome.at = clock.now();
            if (error === gaveUp) {
              outcome.state = 'aborted';
            } else {
              expect(isRateLimitedError(error)).toBe(true);
              // Rejected only when the bucket had no room for the cost, and at once.
              expect(backlog + cost).toBeGreaterThan(queueSize - 1e-9);
              expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
              expect(outcome.at).toBe(now);
              outcome.state = 'rejected';
            }
          },
        );
        if (controller !== undefined) {
          clock.setTimer(
            () => {
              controller.abort(gaveUp);
            },
            (call.abortShare ?? 0) * queueSize * interval,
          );
        }
        expect(bucket.waitingCost).toBeLessThanOrEqual(queueSize + 1e-9);
      }
      await clock.advanceAsync(10 * queueSize * interval);
      expect(outcomes.every((o) => o.state !== 'waiting')).toBe(true);
      // Released in arrival order, each at max(arrival, previous release + previous cost · T).
      expect(released).toEqual(outcomes.filter((o) => o.state === 'released'));
      let previous: Outcome | undefined;
      for (const o of released) {
        const due =
          previous === undefined
            ? o.arrival
            : Math.max(o.arrival, previous.at + previous.cost * interval);
        if (previous === undefined) expect(o.at).toBe(o.arrival);
        else expect(Math.abs(o.at - due)).toBeLessThanOrEqual(rounding(o.at) * 1000);
        previous = o;
      }
      // A call that waited and was not aborted was released; nothing remains armed.
      expect(bucket.waiting).toBe(0);
      expect(clock.pendingTimers()).toBe(0);
    },
  );

  it('lets the first call through at once and spaces the next ones by cost / rate', async () => {
    const clock = new VirtualClock();
    const bucket = new LeakyBucket({ drainPerSecond: 10, queueSize: 5, clock });
    const times: number[] = [];
    const waits = [1, 1, 2, 1].map((cost) =>
      bucket.shape(cost).then(() => {
        times.push(clock.now());
      }),
    );
    expect(bucket.waiting).toBe(3);
    expect(bucket.waitingCost).toBe(4);
    await clock.advanceAsync(1_000);
    await Promise.all(waits);
    expect(times).toEqual([0, 100, 200, 400]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('rejects at once with RateLimitedError when the queue has no room, with the wait until it has', async () => {
    const clock = new VirtualClock();
    const bucket = new LeakyBucket({ drainPerSecond: 10, queueSize: 3, clock });
    const first = bucket.shape(); // through at once; books 100 ms
    const queued = [bucket.shape(), bucket.shape()]; // backlog now 3
    const error = await bucket.shape().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(100);
    expect(bucket.waiting).toBe(2);
    await clock.advanceAsync(300);
    await Promise.all([first, ...queued]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('frees the place and the time of a caller who aborts', async () => {
    const clock = new VirtualClock();
    const bucket = new LeakyBucket({ drainPerSecond: 10, queueSize: 10, clock });
    const log: string[] = [];
    const track = (name: string, p: Promise<void>) =>
      p.then(
        () => log.push(`${name}@${String(clock.now())}`),
        (e: unknown) => log.push(`${name}:${(e as Error).message}`),
      );
    const controller = new AbortController();
    const done = Promise.all([
      track('a', bucket.shape(1)),
      track('b', bucket.shape(3, controller.signal)),
      track('c', bucket.shape(1)),
    ]);
    await clock.advanceAsync(50);
    controller.abort(new Error('client went away'));
    expect(bucket.waitingCost).toBe(1);
    await clock.advanceAsync(1_000);
    await done;
    expect(log).toEqual(['a@0', 'b:client went away', 'c@100']);
    // All waiters gone: no timer left, and an already aborted signal is refused at once.
    const aborted = AbortSignal.abort(new Error('too late'));
    await expect(bucket.shape(1, aborted)).rejects.toThrow('too late');
    const lone = new AbortController();
    expect(bucket.admit(5)).toBe(0); // the meter books 500 ms: the next shaped call must wait
    const waiting = bucket.shape(1, lone.signal).catch((e: unknown) => e);
    expect(clock.pendingTimers()).toBe(1);
    lone.abort(new Error('bye'));
    expect(await waiting).toEqual(new Error('bye'));
    expect(clock.pendingTimers()).toBe(0);
  });

  it('counts waiting calls in the meter and validates costs', async () => {
    const clock = new VirtualClock();
    const bucket = new LeakyBucket({ drainPerSecond: 1, queueSize: 4, clock });
    expect(bucket.admit(2)).toBe(0); // booked: 2 s
    const waiting = bucket.shape(1);
    expect(bucket.admit(1)).toBe(0); // 2 + 1 waiting + 1 = 4 fits
    expect(bucket.admit(1)).toBe(1000);
    expect(() => bucket.admit(5)).toThrow(RangeError);
    await expect(bucket.shape(0)).rejects.toThrow(RangeError);
    await clock.advanceAsync(5_000);
    await waiting;
    expect(clock.pendingTimers()).toBe(0);
    expect(bucket.scaled(0.5).queueSize).toBe(2);
  });

  it('shapes on the real clock', async () => {
    const bucket = new LeakyBucket({ drainPerSecond: 200, queueSize: 10 });
    const start = performance.now();
    await Promise.all(Array.from({ length: 5 }, () => bucket.shape()));
    expect(performance.now() - start).toBeGreaterThanOrEqual(19); // four gaps of 5 ms
  });

  it.each([
    [
      { drainPerSecond: 0, queueSize: 1 },
      'LeakyBucket: drainPerSecond must be a number in (0, 1000000000000], got 0',
    ],
    [
      { drainPerSecond: 1, queueSize: 0 },
      'LeakyBucket: queueSize must be a number in (0, 1000000000000], got 0',
    ],
  ])('rejects %j', (options, message) => {
    expect(() => new LeakyBucket(options)).toThrow(new RangeError(message));
  });
});

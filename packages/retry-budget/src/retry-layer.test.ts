import diagnostics from 'node:diagnostics_channel';
import { fc, test } from '@fast-check/vitest';
import {
  BrokenCircuitError,
  type CallContext,
  createContext,
  isRetryBudgetExhaustedError,
  isTimeoutError,
  RateLimitedError,
  rootContext,
  stack,
  TimeoutError,
  TimeoutLayer,
  VirtualClock,
} from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import type { RetryBudgetLike } from './retry-budget-like.js';
import { RetryBudget } from './retry-budget.js';
import {
  type BudgetExhaustedEvent,
  type GiveUpEvent,
  type JitterKind,
  RetryLayer,
  type RetryEvent,
} from './retry-layer.js';

function coded(code: string): Error {
  return Object.assign(new Error(code), { code });
}

/** Lets every pending promise reaction run. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Settles `promise` by moving `clock` on; returns its outcome without throwing. */
async function drive<T>(
  clock: VirtualClock,
  promise: Promise<T>,
  stepMs = 1000,
  maxSteps = 1000,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then(
    (value) => (outcome = { ok: true, value }),
    (error: unknown) => (outcome = { ok: false, error }),
  );
  for (let i = 0; i < maxSteps && outcome === undefined; i++) await clock.advanceAsync(stepMs);
  await flush();
  if (outcome === undefined) throw new Error('the call did not settle');
  return outcome;
}

/** A budget that counts its calls and answers withdrawals from a script. */
function countingBudget(allow: boolean | (() => boolean) = true) {
  const counts = { deposits: 0, withdrawals: 0 };
  const budget: RetryBudgetLike = {
    deposit: () => {
      counts.deposits++;
    },
    tryWithdraw: () => {
      counts.withdrawals++;
      return typeof allow === 'function' ? allow() : allow;
    },
  };
  return { budget, counts };
}

type Step = 'ok' | 'econnreset' | '503' | 'timeout' | '404' | '500' | '401' | 'enotfound';
const RETRYABLE: readonly Step[] = ['econnreset', '503', 'timeout'];

async function perform(step: Step, attempt: number): Promise<{ status: number; attempt: number }> {
  await Promise.resolve();
  switch (step) {
    case 'ok':
      return { status: 200, attempt };
    case '503':
      return { status: 503, attempt };
    case '404':
      return { status: 404, attempt };
    case '500':
      return { status: 500, attempt };
    case '401':
      return { status: 401, attempt };
    case 'econnreset':
      throw coded('ECONNRESET');
    case 'enotfound':
      throw coded('ENOTFOUND');
    case 'timeout':
      throw new TimeoutError(100);
  }
}

describe('RetryLayer', () => {
  test.prop(
    [
      fc.integer({ min: 1, max: 8 }),
      fc.array(
        fc.constantFrom<Step>(
          'ok',
          'econnreset',
          '503',
          'timeout',
          '404',
          '500',
          '401',
          'enotfound',
        ),
        {
          minLength: 1,
          maxLength: 12,
        },
      ),
      fc.constantFrom<JitterKind>('full', 'decorrelated', 'none'),
      fc.integer({ min: 0, max: 200 }),
      fc.integer({ min: 0, max: 3000 }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1 }),
    ],
    { numRuns: 200 },
  )(
    'makes at most maxAttempts attempts (≤ maxAttempts − 1 retries), stops at the first success or non-retryable outcome, and every wait stays within its bound',
    async (maxAttempts, script, jitter, baseDelayMs, extraMs, draws) => {
      const clock = new VirtualClock();
      const maxDelayMs = baseDelayMs + extraMs;
      let draw = 0;
      const layer = new RetryLayer({
        maxAttempts,
        baseDelayMs,
        maxDelayMs,
        jitter,
        clock,
        random: () => draws[draw++ % draws.length] ?? 0,
      });
      const seen: { attempt: number; at: number }[] = [];
      const waits: RetryEvent[] = [];
      layer.onRetry((event) => waits.push(event));
      const service = layer.wrap((_req: undefined, ctx) => {
        seen.push({ attempt: ctx.attempt, at: clock.now() });
        return perform(script[(ctx.attempt - 1) % script.length] ?? 'ok', ctx.attempt);
      });

      const outcome = await drive(clock, service(undefined), maxDelayMs + 1);

      // Attempts are numbered 1, 2, … and never more than maxAttempts.
      expect(seen.map((s) => s.attempt)).toEqual(seen.map((_, i) => i + 1));
      expect(seen.length).toBeLessThanOrEqual(maxAttempts);
      expect(waits).toHaveLength(seen.length - 1);
      // It stopped exactly where it should have.
      const steps = seen.map((s) => script[(s.attempt - 1) % script.length] ?? 'ok');
      const last = steps[steps.length - 1];
      steps.slice(0, -1).forEach((step) => {
        expect(RETRYABLE).toContain(step);
      });
      if (last !== undefined && RETRYABLE.includes(last)) expect(seen).toHaveLength(maxAttempts);
      if (outcome.ok) expect(outcome.value.attempt).toBe(seen.length);
      // Each wait is within its schedule's bound, and is the time that passed between attempts.
      let previous = baseDelayMs;
      waits.forEach((event, i) => {
        const retry = i; // retries counted from 0
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** retry);
        expect(event.attempt).toBe(i + 2);
        expect(event.delayMs).toBeGreaterThanOrEqual(0);
        expect(event.delayMs).toBeLessThanOrEqual(maxDelayMs);
        if (jitter === 'full') expect(event.delayMs).toBeLessThanOrEqual(ceiling);
        if (jitter === 'none') expect(event.delayMs).toBe(ceiling);
        if (jitter === 'decorrelated') {
          expect(event.delayMs).toBeGreaterThanOrEqual(Math.min(maxDelayMs, baseDelayMs));
          expect(event.delayMs).toBeLessThanOrEqual(
            Math.min(maxDelayMs, Math.max(baseDelayMs, 3 * previous)),
          );
          previous = event.delayMs;
        }
        const gap = (seen[i + 1]?.at ?? NaN) - (seen[i]?.at ?? NaN);
        expect(gap).toBeCloseTo(event.delayMs, 6);
      });
      expect(clock.pendingTimers()).toBe(0);
    },
  );

  test.prop(
    [
      fc.integer({ min: 2, max: 6 }),
      fc.integer({ min: 1, max: 500 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 0, max: 4 }),
    ],
    { numRuns: 100 },
  )(
    'an abort during a backoff wait rejects at once with the abort reason, leaves no timer and makes no further attempt',
    async (maxAttempts, baseDelayMs, fraction, waitsBefore) => {
      const clock = new VirtualClock();
      const layer = new RetryLayer({
        maxAttempts,
        baseDelayMs,
        maxDelayMs: baseDelayMs * 64,
        jitter: 'none',
        clock,
      });
      let attempts = 0;
      const service = layer.wrap(async () => {
        attempts++;
        return { status: 503 };
      });
      const controller = new AbortController();
      let settled: unknown = 'pending';
      const call = service(undefined, createContext({ signal: controller.signal })).then(
        () => (settled = 'resolved'),
        (error: unknown) => (settled = error),
      );
      // Let `waitsBefore` backoff waits complete (or fewer, when attempts run out), then stop
      // part-way through the next one.
      const waits = Math.min(waitsBefore, maxAttempts - 2);
      for (let i = 0; i < waits; i++) {
        await flush();
        await clock.advanceAsync(baseDelayMs * 2 ** i);
      }
      await flush();
      const made = attempts;
      expect(made).toBe(waits + 1);
      expect(clock.pendingTimers()).toBe(1); // waiting
      clock.advance(Math.floor(fraction * baseDelayMs * 2 ** waits * 0.99));
      const reason = new Error('caller gave up');
      controller.abort(reason);
      await flush(); // promise reactions only: virtual time does not move
      expect(settled).toBe(reason);
      expect(clock.pendingTimers()).toBe(0);
      await clock.advanceAsync(baseDelayMs * 1000);
      await call;
      expect(attempts).toBe(made);
    },
  );

  it('passes a success straight through: one attempt, one deposit, no withdrawal, no timer, no signal read', async () => {
    const clock = new VirtualClock();
    const { budget, counts } = countingBudget();
    const layer = new RetryLayer({ budget, clock });
    let signalReads = 0;
    const ctx: CallContext = {
      attempt: 1,
      get signal() {
        signalReads++;
        return rootContext.signal;
      },
      get: () => undefined,
      with: () => ctx,
      withSignal: () => ctx,
      withAttempt: () => ctx,
    };
    let received: CallContext | undefined;
    const service = layer.wrap(async (n: number, inner) => {
      received = inner;
      return n * 2;
    });
    await expect(service(21, ctx)).resolves.toBe(42);
    expect(received).toBe(ctx);
    expect(counts).toEqual({ deposits: 1, withdrawals: 0 });
    expect(clock.pendingTimers()).toBe(0);
    expect(signalReads).toBe(0);
  });

  it('retries a 503 and returns the success, numbering attempts and reporting the cause', async () => {
    const clock = new VirtualClock();
    const { budget, counts } = countingBudget();
    const layer = new RetryLayer({ budget, clock, jitter: 'none' });
    const events: RetryEvent[] = [];
    layer.onRetry((e) => events.push(e));
    const attempts: number[] = [];
    const service = layer.wrap(async (_: string, ctx) => {
      attempts.push(ctx.attempt);
      return ctx.attempt < 3 ? { status: 503 } : { status: 200 };
    });
    const outcome = await drive(clock, service('x'), 10);
    expect(outcome).toEqual({ ok: true, value: { status: 200 } });
    expect(attempts).toEqual([1, 2, 3]);
    expect(counts).toEqual({ deposits: 1, withdrawals: 2 });
    expect(
      events.map((e) => [e.attempt, e.delayMs, e.cause.kind, e.cause.status, e.cause.outcomeClass]),
    ).toEqual([
      [2, 25, 'result', 503, 'upstream'],
      [3, 50, 'result', 503, 'upstream'],
    ]);
  });

  it('retries thrown transient errors, and a synchronous throw too', async () => {
    const clock = new VirtualClock();
    const layer = new RetryLayer({ clock, baseDelayMs: 0, maxDelayMs: 0 });
    let calls = 0;
    const service = layer.wrap((): Promise<string> => {
      calls++;
      if (calls === 1) throw coded('ECONNRESET');
      if (calls === 2) return Promise.reject(coded('ECONNREFUSED'));
      return Promise.resolve('ok');
    });
    await expect(service(undefined)).resolves.toBe('ok');
    expect(calls).toBe(3);
    expect(clock.pendingTimers()).toBe(0);
  });

  it.each([
    ['a 404', { status: 404 }],
    ['a 400', { status: 400 }],
    ['a 401', { status: 401 }],
    ['a 403', { status: 403 }],
    ['a 500', { status: 500 }],
    ['a 429 without Retry-After', { status: 429 }],
  ])('returns %s at once, without retrying', async (_name, result) => {
    const layer = new RetryLayer({ clock: new VirtualClock() });
    let calls = 0;
    const service = layer.wrap(async () => {
      calls++;
      return result;
    });
    await expect(service(undefined)).resolves.toBe(result);
    expect(calls).toBe(1);
  });

  it.each([
    ['ENOTFOUND', coded('ENOTFOUND')],
    ['a 401 error', Object.assign(new Error('unauthorised'), { status: 401 })],
    ['BrokenCircuitError', new BrokenCircuitError(10)],
    ['RateLimitedError', new RateLimitedError(10)],
    ['an AbortError', new DOMException('aborted', 'AbortError')],
  ])('rethrows %s at once, without retrying', async (_name, error) => {
    const layer = new RetryLayer({ clock: new VirtualClock() });
    let calls = 0;
    const service = layer.wrap(async () => {
      calls++;
      throw error;
    });
    await expect(service(undefined)).rejects.toBe(error);
    expect(calls).toBe(1);
  });

  it("never retries once the caller's signal has aborted, even if shouldRetryOn says yes", async () => {
    const layer = new RetryLayer({ clock: new VirtualClock(), shouldRetryOn: () => true });
    const controller = new AbortController();
    let calls = 0;
    const service = layer.wrap(async (_: undefined, { signal }) => {
      calls++;
      controller.abort(new Error('bye'));
      signal.throwIfAborted();
      return 'unreachable';
    });
    await expect(service(undefined, createContext({ signal: controller.signal }))).rejects.toThrow(
      'bye',
    );
    expect(calls).toBe(1);
  });

  it('gives up after maxAttempts with the last result, or the last error', async () => {
    const clock = new VirtualClock();
    const layer = new RetryLayer({ maxAttempts: 4, clock });
    const giveUps: GiveUpEvent[] = [];
    layer.onGiveUp((e) => giveUps.push(e));
    let calls = 0;
    const last = { status: 503 };
    const returning = layer.wrap(async () => (++calls === 4 ? last : { status: 502 }));
    expect(await drive(clock, returning(undefined))).toEqual({ ok: true, value: last });
    expect(calls).toBe(4);
    const error = coded('ECONNRESET');
    const throwing = layer.wrap(async () => {
      throw error;
    });
    expect(await drive(clock, throwing(undefined))).toEqual({ ok: false, error });
    expect(giveUps.map((e) => [e.reason, e.attempts])).toEqual([
      ['max-attempts', 4],
      ['max-attempts', 4],
    ]);
    expect(giveUps[0]?.cause).toMatchObject({ kind: 'result', result: last });
  });

  it('maxAttempts: 1 never retries but still deposits', async () => {
    const { budget, counts } = countingBudget();
    const layer = new RetryLayer({ maxAttempts: 1, budget });
    const service = layer.wrap(async () => ({ status: 503 }));
    await expect(service(undefined)).resolves.toEqual({ status: 503 });
    expect(counts).toEqual({ deposits: 1, withdrawals: 0 });
  });

  describe('when the budget says no', () => {
    it("returns the last result as it is, by default ('return-last')", async () => {
      const { budget, counts } = countingBudget(false);
      const layer = new RetryLayer({ budget, clock: new VirtualClock() });
      const exhausted: BudgetExhaustedEvent[] = [];
      const giveUps: GiveUpEvent[] = [];
      layer.onBudgetExhausted((e) => exhausted.push(e));
      layer.onGiveUp((e) => giveUps.push(e));
      const result = { status: 503 };
      const service = layer.wrap(async () => result);
      await expect(service(undefined)).resolves.toBe(result);
      expect(counts).toEqual({ deposits: 1, withdrawals: 1 });
      expect(exhausted).toEqual([
        { attempt: 2, cause: expect.objectContaining({ result }) as unknown },
      ]);
      expect(giveUps.map((e) => e.reason)).toEqual(['budget-exhausted']);
    });

    it("rethrows the last error as it is ('return-last')", async () => {
      const layer = new RetryLayer({ budget: countingBudget(false).budget });
      const error = coded('ECONNREFUSED');
      await expect(layer.execute(() => Promise.reject(error))).rejects.toBe(error);
    });

    it("rejects with RetryBudgetExhaustedError carrying the cause ('reject')", async () => {
      const layer = new RetryLayer({ budget: countingBudget(false).budget, onExhausted: 'reject' });
      const error = coded('ECONNREFUSED');
      const rejection: unknown = await layer
        .execute(() => Promise.reject(error))
        .catch((e: unknown) => e);
      expect(isRetryBudgetExhaustedError(rejection)).toBe(true);
      expect((rejection as Error).cause).toBe(error);
      const result = { status: 502 };
      const fromResult: unknown = await layer.execute(async () => result).catch((e: unknown) => e);
      expect((fromResult as Error).cause).toBe(result);
    });

    it('still retries when a later withdrawal succeeds', async () => {
      const answers = [true, false];
      const { budget, counts } = countingBudget(() => answers.shift() ?? false);
      const clock = new VirtualClock();
      const layer = new RetryLayer({ budget, clock, maxAttempts: 5 });
      let calls = 0;
      const service = layer.wrap(async () => {
        calls++;
        return { status: 504 };
      });
      await drive(clock, service(undefined));
      expect(calls).toBe(2);
      expect(counts).toEqual({ deposits: 1, withdrawals: 2 });
    });
  });

  describe('shouldRetry (is this request safe to repeat?)', () => {
    it('is asked before every retry with the request and context, and can refuse', async () => {
      const clock = new VirtualClock();
      const asked: unknown[] = [];
      const layer = new RetryLayer({
        clock,
        maxAttempts: 5,
        shouldRetry: (req, ctx) => {
          asked.push([req, ctx.attempt]);
          return asked.length < 3;
        },
      });
      const giveUps: GiveUpEvent[] = [];
      layer.onGiveUp((e) => giveUps.push(e));
      let calls = 0;
      const service = layer.wrap(async (_req: { method: string }) => {
        calls++;
        return { status: 503 };
      });
      const req = { method: 'GET' };
      await drive(clock, service(req));
      expect(calls).toBe(3);
      expect(asked).toEqual([
        [req, 1],
        [req, 1],
        [req, 1],
      ]);
      expect(giveUps.map((e) => [e.reason, e.attempts])).toEqual([['unsafe', 3]]);
    });

    it('is not asked on the success path nor for a non-retryable outcome', async () => {
      let asked = 0;
      const layer = new RetryLayer({
        shouldRetry: () => {
          asked++;
          return true;
        },
      });
      await layer.execute(async () => 'ok');
      await layer.execute(async () => ({ status: 404 }));
      expect(asked).toBe(0);
    });
  });

  describe('shouldRetryOn', () => {
    it('gets the default decision and may extend it (retry a 500) or narrow it (not a 503)', async () => {
      const clock = new VirtualClock();
      const layer = new RetryLayer({
        clock,
        baseDelayMs: 0,
        maxDelayMs: 0,
        shouldRetryOn: (outcome, byDefault) =>
          (byDefault && outcome.status !== 503) || outcome.status === 500,
      });
      let calls = 0;
      const five00 = layer.wrap(async () => (++calls < 3 ? { status: 500 } : { status: 200 }));
      await expect(five00(undefined)).resolves.toEqual({ status: 200 });
      expect(calls).toBe(3);
      calls = 0;
      const five03 = layer.wrap(async () => {
        calls++;
        return { status: 503 };
      });
      await expect(five03(undefined)).resolves.toEqual({ status: 503 });
      expect(calls).toBe(1);
    });

    it('never overrides a cancellation', async () => {
      const layer = new RetryLayer({ shouldRetryOn: () => true });
      let calls = 0;
      const error = new DOMException('stop', 'AbortError');
      await expect(
        layer.execute(async () => {
          calls++;
          throw error;
        }),
      ).rejects.toBe(error);
      expect(calls).toBe(1);
    });
  });

  describe('Retry-After', () => {
    it('waits at least the Retry-After seconds of a 503, capped by maxDelayMs', async () => {
      for (const [maxDelayMs, expected] of [
        [5000, 2000],
        [800, 800],
      ] as const) {
        const clock = new VirtualClock();
        const layer = new RetryLayer({ clock, maxDelayMs, jitter: 'none' });
        const delays: number[] = [];
        layer.onRetry((e) => delays.push(e.delayMs));
        let calls = 0;
        const service = layer.wrap(async () =>
          ++calls === 1 ? { status: 503, headers: { 'retry-after': '2' } } : { status: 200 },
        );
        await drive(clock, service(undefined), 100);
        expect(delays).toEqual([expected]);
      }
    });

    it('reads an HTTP-date from a Headers instance', async () => {
      const clock = new VirtualClock();
      const layer = new RetryLayer({ clock, maxDelayMs: 10_000, jitter: 'none' });
      const delays: number[] = [];
      layer.onRetry((e) => delays.push(e.delayMs));
      let calls = 0;
      const service = layer.wrap(async () => {
        const at = new Date(Date.now() + 3000).toUTCString(); // whole seconds: 2 to 3 s ahead
        return ++calls === 1
          ? { status: 503, headers: new Headers({ 'Retry-After': at }) }
          : { status: 200 };
      });
      await drive(clock, service(undefined), 100);
      expect(delays).toHaveLength(1);
      expect(delays[0]).toBeGreaterThan(1900);
      expect(delays[0]).toBeLessThanOrEqual(3000);
    });

    it('retries a 429 that says when, within the cap, and honours the hint', async () => {
      const clock = new VirtualClock();
      const layer = new RetryLayer({ clock, jitter: 'none' });
      const delays: number[] = [];
      layer.onRetry((e) => delays.push(e.delayMs));
      let calls = 0;
      const service = layer.wrap(async () =>
        ++calls === 1 ? { status: 429, headers: { 'Retry-After': '1' } } : { status: 200 },
      );
      expect(await drive(clock, service(undefined), 100)).toEqual({
        ok: true,
        value: { status: 200 },
      });
      expect(delays).toEqual([1000]);
    });

    it("uses an error's retryAfterMs when the error is retried", async () => {
      const clock = new VirtualClock();
      const layer = new RetryLayer({
        clock,
        jitter: 'none',
        shouldRetryOn: (o, byDefault) => byDefault || o.outcomeClass === 'overloaded',
      });
      const delays: number[] = [];
      layer.onRetry((e) => delays.push(e.delayMs));
      let calls = 0;
      const service = layer.wrap(async () => {
        if (++calls === 1) throw new RateLimitedError(300);
        if (calls === 2) throw new RateLimitedError(5_000);
        return 'ok';
      });
      await drive(clock, service(undefined), 100);
      expect(delays).toEqual([300, 1000]);
    });
  });

  it('spreads waits with decorrelated jitter from the previous wait', async () => {
    const clock = new VirtualClock();
    const layer = new RetryLayer({
      clock,
      maxAttempts: 4,
      baseDelayMs: 10,
      maxDelayMs: 1000,
      jitter: 'decorrelated',
      random: () => 0.5,
    });
    const delays: number[] = [];
    layer.onRetry((e) => delays.push(e.delayMs));
    await drive(
      clock,
      layer.execute(async () => ({ status: 503 })),
      10,
    );
    // 10 + 0.5·(30 − 10) = 20; 10 + 0.5·(60 − 10) = 35; 10 + 0.5·(105 − 10) = 57.5
    expect(delays).toEqual([20, 35, 57.5]);
  });

  it('a zero wait retries without a timer', async () => {
    const clock = new VirtualClock();
    const layer = new RetryLayer({ clock, random: () => 0 });
    let calls = 0;
    const service = layer.wrap(async () => ({ status: ++calls < 3 ? 503 : 200 }));
    await expect(service(undefined)).resolves.toEqual({ status: 200 });
    expect(clock.pendingTimers()).toBe(0);
  });

  it('numbers its own attempts even under a context with another attempt number', async () => {
    const layer = new RetryLayer({ baseDelayMs: 0, maxDelayMs: 0 });
    const attempts: number[] = [];
    const service = layer.wrap(async (_: undefined, ctx) => {
      attempts.push(ctx.attempt);
      return { status: attempts.length < 2 ? 503 : 200 };
    });
    await service(undefined, createContext({ attempt: 7 }));
    expect(attempts).toEqual([1, 2]);
  });

  it('publishes events on proxykit:retry-budget:* diagnostics channels', async () => {
    const received: [string, unknown][] = [];
    const subscribers = ['retry', 'give-up', 'budget-exhausted'].map((name) => {
      const subscriber = (message: unknown) => received.push([name, message]);
      diagnostics.subscribe(`proxykit:retry-budget:${name}`, subscriber);
      return () => diagnostics.unsubscribe(`proxykit:retry-budget:${name}`, subscriber);
    });
    try {
      const answers = [true, false];
      const layer = new RetryLayer({
        baseDelayMs: 0,
        maxDelayMs: 0,
        budget: countingBudget(() => answers.shift() ?? false).budget,
      });
      await layer.execute(async () => ({ status: 503 }));
      expect(received.map(([name]) => name)).toEqual(['retry', 'budget-exhausted', 'give-up']);
      expect(received[0]?.[1]).toMatchObject({ attempt: 2, delayMs: 0 });
    } finally {
      for (const unsubscribe of subscribers) unsubscribe();
    }
  });

  it('a listener disposer stops the events', async () => {
    const layer = new RetryLayer({ baseDelayMs: 0, maxDelayMs: 0 });
    const events: RetryEvent[] = [];
    const dispose = layer.onRetry((e) => events.push(e));
    await layer.execute(async () => ({ status: 503 }));
    dispose();
    await layer.execute(async () => ({ status: 503 }));
    expect(events).toHaveLength(2);
  });

  it("an outer TimeoutLayer's deadline ends a backoff wait with TimeoutError and leaves no timer", async () => {
    const clock = new VirtualClock();
    let calls = 0;
    const service = stack(
      new TimeoutLayer({ timeoutMs: 100, clock }),
      new RetryLayer({ clock, baseDelayMs: 80, maxDelayMs: 1000, jitter: 'none', maxAttempts: 10 }),
    ).wrap(async () => {
      calls++;
      return { status: 503 };
    });
    const outcome = await drive(clock, service(undefined), 10);
    expect(outcome.ok).toBe(false);
    expect(isTimeoutError((outcome as { error: unknown }).error)).toBe(true);
    expect(calls).toBe(2); // at 0 and 80 ms; the wait until 240 ms is cut at 100 ms
    expect(clock.pendingTimers()).toBe(0);
  });

  it('retries an inner per-attempt timeout', async () => {
    const clock = new VirtualClock();
    let calls = 0;
    const service = stack(
      new RetryLayer({ clock, jitter: 'none', baseDelayMs: 10 }),
      new TimeoutLayer({ timeoutMs: 50, clock }),
    ).wrap(async (_: undefined, { signal }) => {
      if (++calls < 3) {
        return new Promise<string>((_resolve, reject) => {
          signal.addEventListener(
            'abort',
            () => {
              reject(signal.reason as Error);
            },
            { once: true },
          );
        });
      }
      return 'ok';
    });
    expect(await drive(clock, service(undefined), 10)).toEqual({ ok: true, value: 'ok' });
    expect(calls).toBe(3);
  });

  it('on the real clock, an aborted backoff wait leaves no Timeout handle behind', async () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const layer = new RetryLayer({ baseDelayMs: 60_000, maxDelayMs: 60_000, jitter: 'none' });
    const controller = new AbortController();
    let waiting!: () => void;
    const retrying = new Promise<void>((resolve) => (waiting = resolve));
    layer.onRetry(() => {
      setImmediate(waiting);
    });
    const before = timeouts();
    const call = layer.execute(async () => ({ status: 503 }), controller.signal);
    await retrying;
    // The 60 s backoff timer is the only timer this test adds.
    const during = timeouts();
    expect(during).toBe(before + 1);
    const started = performance.now();
    controller.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(timeouts()).toBe(during - 1);
  });

  it.each([
    [{ maxAttempts: 0 }, 'RetryLayer: maxAttempts must be an integer >= 1, got 0'],
    [{ maxAttempts: 2.5 }, 'RetryLayer: maxAttempts must be an integer >= 1, got 2.5'],
    [{ baseDelayMs: -1 }, 'RetryLayer: baseDelayMs must be a number in [0, 2147483647], got -1'],
    [{ maxDelayMs: 10 }, 'RetryLayer: maxDelayMs must be a number in [25, 2147483647], got 10'],
    [
      { maxDelayMs: Number.POSITIVE_INFINITY },
      'RetryLayer: maxDelayMs must be a number in [25, 2147483647], got Infinity',
    ],
    [
      { jitter: 'equal' },
      'RetryLayer: jitter must be one of "full", "decorrelated", "none", got "equal"',
    ],
    [
      { onExhausted: 'throw' },
      'RetryLayer: onExhausted must be one of "return-last", "reject", got "throw"',
    ],
    [
      { budget: {} },
      'RetryLayer: budget must have deposit() and tryWithdraw() methods, got object',
    ],
    [{ shouldRetry: true }, 'RetryLayer: shouldRetry must be a function, got true'],
    [{ shouldRetryOn: 1 }, 'RetryLayer: shouldRetryOn must be a function, got 1'],
    [{ random: 0.5 }, 'RetryLayer: random must be a function, got 0.5'],
  ])('rejects %j', (options, message) => {
    expect(() => new RetryLayer(options as never)).toThrow(new RangeError(message));
  });

  it('has the documented defaults', () => {
    const layer = new RetryLayer();
    expect([
      layer.maxAttempts,
      layer.baseDelayMs,
      layer.maxDelayMs,
      layer.jitter,
      layer.onExhausted,
      layer.budget,
    ]).toEqual([3, 25, 1000, 'full', 'return-last', undefined]);
    expect(new RetryLayer({ baseDelayMs: 2000 }).maxDelayMs).toBe(2000);
    expect(new RetryLayer({ budget: new RetryBudget() }).budget).toBeInstanceOf(RetryBudget);
  });
});

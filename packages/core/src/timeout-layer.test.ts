import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { createContext, createContextKey } from './context.js';
import { isTimeoutError, TimeoutError } from './errors.js';
import { TimeoutLayer } from './timeout-layer.js';
import { VirtualClock } from './virtual-clock.js';

/** Resolves after `ms` of virtual time, or never when ms is null. */
function sleeper(clock: VirtualClock) {
  return (ms: number | null, value: string): Promise<string> =>
    new Promise((resolve) => {
      if (ms !== null) {
        clock.setTimer(() => {
          resolve(value);
        }, ms);
      }
    });
}

function timerHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
}

describe('TimeoutLayer', () => {
  test.prop([
    fc.integer({ min: 1, max: 1_000 }),
    fc.array(
      fc.record({
        startAt: fc.integer({ min: 0, max: 2_000 }),
        duration: fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: null }),
      }),
      { maxLength: 30 },
    ),
  ])(
    'every call settles: with its value before the deadline, with TimeoutError at the deadline',
    async (timeoutMs, calls) => {
      const clock = new VirtualClock();
      const layer = new TimeoutLayer({ timeoutMs, clock });
      const sleep = sleeper(clock);
      const outcomes: { expected: string; got?: string; at?: number }[] = [];
      const sorted = [...calls].sort((a, b) => a.startAt - b.startAt);
      let now = 0;
      for (const [i, call] of sorted.entries()) {
        await clock.advanceAsync(call.startAt - now);
        now = call.startAt;
        const willFinish = call.duration !== null && call.duration < timeoutMs;
        // A call that finishes exactly at its deadline may go either way; leave it out.
        if (call.duration === timeoutMs) continue;
        const record: (typeof outcomes)[number] = {
          expected: willFinish ? `value ${String(i)}` : 'timeout',
        };
        outcomes.push(record);
        const started = clock.now();
        layer
          .wrap((_: null, ctx) => {
            ctx.signal.addEventListener('abort', () => {
              record.at = clock.now() - started;
            });
            return sleep(call.duration, `value ${String(i)}`);
          })(null)
          .then(
            (value) => {
              record.got = value;
            },
            (error: unknown) => {
              record.got = isTimeoutError(error) ? 'timeout' : String(error);
            },
          );
      }
      await clock.advanceAsync(6_000 + 2 * timeoutMs);
      for (const [i, o] of outcomes.entries()) {
        expect(o.got, `call ${String(i)}`).toBe(o.expected);
        // The signal aborts exactly at the deadline, and only for calls that timed out.
        expect(o.at).toBe(o.expected === 'timeout' ? timeoutMs : undefined);
      }
      expect(layer.pending).toBe(0);
      expect(clock.pendingTimers({ referencedOnly: true })).toBe(0);
    },
  );

  it('aborts ctx.signal at the deadline with the same TimeoutError the caller receives', async () => {
    const clock = new VirtualClock();
    const layer = new TimeoutLayer({ timeoutMs: 100, clock });
    let innerSignal: AbortSignal | undefined;
    const call = layer.execute(
      (ctx) =>
        new Promise<never>(() => {
          innerSignal = ctx.signal;
        }),
    );
    const caught = call.catch((e: unknown) => e);
    clock.advance(99);
    expect(innerSignal?.aborted).toBe(false);
    clock.advance(1);
    const error = await caught;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).timeoutMs).toBe(100);
    expect(innerSignal?.aborted).toBe(true);
    expect(innerSignal?.reason).toBe(error);
  });

  it('passes the caller abort through to the inner signal', async () => {
    const layer = new TimeoutLayer({ timeoutMs: 10_000 });
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const call = layer.execute(
      (ctx) =>
        new Promise<never>((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            reject(ctx.signal.reason as Error);
          });
        }),
      controller.signal,
    );
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(layer.pending).toBe(0);
  });

  it('does not abort the signal of a call that already finished', async () => {
    const clock = new VirtualClock();
    const layer = new TimeoutLayer({ timeoutMs: 100, clock });
    let signal: AbortSignal | undefined;
    await layer.execute(async (ctx) => {
      signal = ctx.signal;
      return 1;
    });
    clock.advance(1_000);
    expect(signal?.aborted).toBe(false);
  });

  it('keeps context values and attempt for the inner handler', async () => {
    const KEY = createContextKey<string>('k');
    const layer = new TimeoutLayer({ timeoutMs: 1_000 });
    const ctx = createContext({ attempt: 3 }).with(KEY, 'v');
    const seen = await layer.wrap(async (_: null, inner) => {
      const child = inner.with(createContextKey<number>('n'), 1);
      return [inner.attempt, inner.get(KEY), child.get(KEY), child.signal === inner.signal];
    })(null, ctx);
    expect(seen).toEqual([3, 'v', 'v', true]);
  });

  it('rejects with whatever a synchronously throwing handler threw', async () => {
    const layer = new TimeoutLayer({ timeoutMs: 1_000 });
    const boom = new Error('boom');
    await expect(
      layer.wrap((): Promise<never> => {
        throw boom;
      })(null),
    ).rejects.toBe(boom);
    expect(layer.pending).toBe(0);
  });

  it('leaves no referenced timer behind on the real clock once calls settle', async () => {
    const before = timerHandles();
    const layer = new TimeoutLayer({ timeoutMs: 60_000 });
    const fast = layer.wrap(async (n: number) => n);
    await Promise.all(Array.from({ length: 100 }, (_, i) => fast(i)));
    // Timers of earlier tests may end meanwhile, so the count can only stay or drop.
    expect(timerHandles()).toBeLessThanOrEqual(before);
    const short = new TimeoutLayer({ timeoutMs: 20 });
    await expect(
      short.wrap(() => new Promise<never>(() => undefined))(null),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(timerHandles()).toBeLessThanOrEqual(before);
  });

  it('validates timeoutMs', () => {
    for (const bad of [0, -1, Number.NaN, Infinity, 2 ** 31]) {
      expect(() => new TimeoutLayer({ timeoutMs: bad })).toThrow(
        /TimeoutLayer: timeoutMs must be a number in \(0, 2147483647\]/,
      );
    }
  });
});

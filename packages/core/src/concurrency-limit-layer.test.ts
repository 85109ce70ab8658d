import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { ConcurrencyLimitLayer } from './concurrency-limit-layer.js';
import { createContext } from './context.js';
import { isOverloadedError, OverloadedError } from './errors.js';
import { VirtualClock } from './virtual-clock.js';

function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ConcurrencyLimitLayer', () => {
  test.prop([
    fc.integer({ min: 1, max: 5 }),
    fc.integer({ min: 0, max: 5 }),
    fc.array(fc.record({ fail: fc.boolean(), abort: fc.boolean() }), {
      minLength: 1,
      maxLength: 25,
    }),
    fc.scheduler(),
  ])(
    'never admits more than maxConcurrent under any interleaving, and every call settles',
    async (maxConcurrent, maxQueued, calls, s) => {
      const layer = new ConcurrencyLimitLayer({ maxConcurrent, maxQueued });
      let running = 0;
      let peak = 0;
      const handler = layer.wrap(async (call: { fail: boolean }) => {
        running++;
        peak = Math.max(peak, running);
        try {
          await s.schedule(Promise.resolve(), 'work');
          if (call.fail) throw new Error('inner failure');
          return 'ok';
        } finally {
          running--;
        }
      });
      const results = calls.map((call) => {
        const controller = new AbortController();
        if (call.abort)
          void s.schedule(Promise.resolve(), 'abort').then(() => {
            controller.abort();
          });
        return handler(call, createContext({ signal: controller.signal })).then(
          () => 'ok',
          (error: unknown) => (isOverloadedError(error) ? 'overloaded' : 'error'),
        );
      });
      // Admitting a queued call takes a few promise hops, so drain until nothing new is scheduled.
      do {
        await s.waitIdle();
        await new Promise((r) => setImmediate(r));
      } while (s.count() > 0);
      const outcomes = await Promise.all(results);
      expect(peak).toBeLessThanOrEqual(maxConcurrent);
      expect(outcomes).toHaveLength(calls.length);
      // All calls arrive before any finishes: exactly those beyond slots + queue are refused.
      const admitted = maxConcurrent + maxQueued;
      outcomes.forEach((outcome, i) => {
        if (i >= admitted) expect(outcome).toBe('overloaded');
        else if (i < maxConcurrent || !calls[i]!.abort) {
          expect(outcome).toBe(calls[i]!.fail ? 'error' : 'ok');
        } else expect(outcome).not.toBe('overloaded');
      });
      expect(layer.inFlight).toBe(0);
      expect(layer.queued).toBe(0);
    },
  );

  it('rejects at once with OverloadedError when the slots and the queue are full', async () => {
    const layer = new ConcurrencyLimitLayer({ maxConcurrent: 1, maxQueued: 1 });
    const gate = deferred();
    const handler = layer.wrap(() => gate.promise);
    const first = handler(null);
    const second = handler(null);
    expect(layer.inFlight).toBe(1);
    expect(layer.queued).toBe(1);
    const third = handler(null);
    await expect(third).rejects.toBeInstanceOf(OverloadedError);
    await expect(third).rejects.toThrow(/concurrency limit 1 reached and queue full \(1\)/);
    gate.resolve();
    await Promise.all([first, second]);
    expect(layer.inFlight).toBe(0);
  });

  it('serves the queue in FIFO order and hands the slot over without dropping below max', async () => {
    const layer = new ConcurrencyLimitLayer({ maxConcurrent: 1, maxQueued: 10 });
    const order: number[] = [];
    const gates = Array.from({ length: 4 }, () => deferred());
    const handler = layer.wrap(async (i: number) => {
      order.push(i);
      await gates[i]!.promise;
    });
    const calls = [0, 1, 2, 3].map((i) => handler(i));
    for (const gate of gates) {
      gate.resolve();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(calls);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('removes an aborted waiter from the queue and rejects it with the abort reason', async () => {
    const layer = new ConcurrencyLimitLayer({ maxConcurrent: 1, maxQueued: 5 });
    const gate = deferred();
    const handler = layer.wrap(() => gate.promise);
    const running = handler(null);
    const controller = new AbortController();
    const waiting = handler(null, createContext({ signal: controller.signal }));
    expect(layer.queued).toBe(1);
    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(layer.queued).toBe(0);
    gate.resolve();
    await running;
    expect(layer.inFlight).toBe(0);
  });

  it('rejects a waiter whose signal is already aborted without queueing it', async () => {
    const layer = new ConcurrencyLimitLayer({ maxConcurrent: 1, maxQueued: 5 });
    const gate = deferred();
    const running = layer.wrap(() => gate.promise)(null);
    const controller = new AbortController();
    controller.abort();
    await expect(layer.execute(async () => 1, controller.signal)).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(layer.queued).toBe(0);
    gate.resolve();
    await running;
  });

  it('times out a queued call after queueTimeoutMs on virtual time', async () => {
    const clock = new VirtualClock();
    const layer = new ConcurrencyLimitLayer({
      maxConcurrent: 1,
      maxQueued: 2,
      queueTimeoutMs: 50,
      clock,
    });
    const gate = deferred();
    const handler = layer.wrap(() => gate.promise);
    const running = handler(null);
    const waiting = handler(null);
    const outcome = waiting.catch((e: unknown) => e);
    clock.advance(49);
    expect(layer.queued).toBe(1);
    clock.advance(1);
    expect(await outcome).toBeInstanceOf(OverloadedError);
    expect(layer.queued).toBe(0);
    expect(clock.pendingTimers({ referencedOnly: true })).toBe(0);
    gate.resolve();
    await running;
  });

  it('releases the slot when the handler throws synchronously or rejects', async () => {
    const layer = new ConcurrencyLimitLayer({ maxConcurrent: 1 });
    await expect(
      layer.wrap((): Promise<never> => {
        throw new Error('sync');
      })(null),
    ).rejects.toThrow('sync');
    await expect(layer.execute(() => Promise.reject(new Error('async')))).rejects.toThrow('async');
    expect(layer.inFlight).toBe(0);
    await expect(layer.execute(async () => 'free again')).resolves.toBe('free again');
  });

  it('validates its options with messages naming the option and the range', () => {
    expect(() => new ConcurrencyLimitLayer({ maxConcurrent: 0 })).toThrow(
      'ConcurrencyLimitLayer: maxConcurrent must be an integer >= 1, got 0',
    );
    expect(() => new ConcurrencyLimitLayer({ maxConcurrent: 1.5 })).toThrow(RangeError);
    expect(() => new ConcurrencyLimitLayer({ maxConcurrent: 1, maxQueued: -1 })).toThrow(
      'ConcurrencyLimitLayer: maxQueued must be an integer >= 0, got -1',
    );
    expect(() => new ConcurrencyLimitLayer({ maxConcurrent: 1, queueTimeoutMs: 0 })).toThrow(
      'ConcurrencyLimitLayer: queueTimeoutMs must be a number in (0, 2147483647], got 0',
    );
  });
});

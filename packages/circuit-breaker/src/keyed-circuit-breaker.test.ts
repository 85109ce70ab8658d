import {
  BrokenCircuitError,
  createContextKey,
  rootContext,
  stack,
  VirtualClock,
  type Layer,
} from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { KeyedCircuitBreaker } from './keyed-circuit-breaker.js';

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
}

describe('KeyedCircuitBreaker', () => {
  it('hands out permits per key: results and errors reported on them trip only that key', () => {
    const clock = new VirtualClock();
    const breakers = new KeyedCircuitBreaker<string>({
      failureThreshold: 2,
      resetTimeoutMs: 1_000,
      clock,
    });
    const rejected: string[] = [];
    breakers.onReject(({ key }) => rejected.push(key));
    // A 503 result and a refused connection are failures; a 404 is the caller's problem.
    breakers.tryAcquire('a')!.resolved({ status: 503 });
    breakers.tryAcquire('b')!.resolved({ status: 404 });
    breakers.tryAcquire('a')!.rejected(refused());
    breakers.tryAcquire('b')!.resolved({ status: 200 });
    expect(breakers.stateOf('a')).toBe('open');
    expect(breakers.stateOf('b')).toBe('closed');
    expect(breakers.tryAcquire('a')).toBeUndefined();
    expect(rejected).toEqual(['a']);
    const error = breakers.rejection('a');
    expect(error).toBeInstanceOf(BrokenCircuitError);
    expect(error.retryAfterMs).toBe(1_000);
    clock.advance(400);
    expect(error.retryAfterMs).toBe(600);
    // A caller's own abort counts as nothing.
    const caller = new AbortController();
    caller.abort();
    breakers.tryAcquire('b')!.rejected(caller.signal.reason, caller.signal);
    breakers.tryAcquire('b')!.rejected(caller.signal.reason, caller.signal);
    expect(breakers.stateOf('b')).toBe('closed');
    clock.advance(600);
    const probe = breakers.tryAcquire('a');
    expect(breakers.stateOf('a')).toBe('half-open');
    expect(breakers.tryAcquire('a')).toBeUndefined(); // one probe at a time
    probe!.resolved('fine');
    expect(breakers.stateOf('a')).toBe('closed');
    expect(clock.pendingTimers()).toBe(0);
  });

  it('keeps one independent breaker per key and tells a load balancer which are available', async () => {
    const clock = new VirtualClock();
    const breakers = new KeyedCircuitBreaker<string>({
      failureThreshold: 2,
      resetTimeoutMs: 1_000,
      clock,
    });
    for (let i = 0; i < 2; i++) {
      await expect(breakers.execute('a', () => Promise.reject(refused()))).rejects.toThrow();
    }
    await breakers.execute('b', async () => 'fine');
    expect(breakers.stateOf('a')).toBe('open');
    expect(breakers.stateOf('b')).toBe('closed');
    expect(breakers.stateOf('never-seen')).toBe('closed');
    expect(['a', 'b', 'c'].filter((k) => breakers.isAvailable(k))).toEqual(['b', 'c']);
    expect(breakers.size).toBe(2); // isAvailable and stateOf create nothing
    await expect(breakers.execute('a', async () => 'x')).rejects.toBeInstanceOf(BrokenCircuitError);
    clock.advance(1_000);
    expect(breakers.isAvailable('a')).toBe(true);
    await expect(breakers.execute('a', async () => 'recovered')).resolves.toBe('recovered');
    expect(breakers.stateOf('a')).toBe('closed');
    expect(clock.pendingTimers()).toBe(0);
  });

  it('reports events with the key', async () => {
    const breakers = new KeyedCircuitBreaker<number>({ failureThreshold: 1 });
    const changes: string[] = [];
    breakers.onStateChange(({ key, to }) => changes.push(`${String(key)}:${to}`));
    const rejects: number[] = [];
    breakers.onReject(({ key }) => rejects.push(key));
    await expect(breakers.execute(7, () => Promise.reject(refused()))).rejects.toThrow();
    await new Promise((r) => setImmediate(r));
    await expect(breakers.execute(7, async () => 1)).rejects.toThrow(BrokenCircuitError);
    expect(changes).toEqual(['7:open']);
    expect(rejects).toEqual([7]);
  });

  it('bounds the key set, evicting the least recently used key', async () => {
    const breakers = new KeyedCircuitBreaker<string>({ maxKeys: 3 });
    for (const key of ['a', 'b', 'c']) await breakers.execute(key, async () => key);
    await breakers.execute('a', async () => 'touch a');
    await breakers.execute('d', async () => 'd');
    expect(breakers.size).toBe(3);
    breakers.isolate('a');
    expect(breakers.stateOf('b')).toBe('closed');
    expect(breakers.toJSON().map(([key]) => key)).toEqual(['a']);
    for (let i = 0; i < 10_000; i++) await breakers.execute(`flood-${String(i)}`, async () => i);
    expect(breakers.size).toBe(3);
  });

  it('works as a layer keyed by what an outer layer put in the context', async () => {
    const UPSTREAM = createContextKey<string>('upstream');
    const breakers = new KeyedCircuitBreaker<string>({ failureThreshold: 1 });
    const choose = (name: string): Layer => ({
      wrap:
        (next) =>
        (req, ctx = rootContext) =>
          next(req, ctx.with(UPSTREAM, name)),
    });
    const viaA = stack(
      choose('a'),
      breakers.layer((_req, ctx) => ctx.get(UPSTREAM) ?? 'none'),
    ).wrap(async (fail: boolean) => {
      if (fail) throw refused();
      return 'ok';
    });
    await expect(viaA(true)).rejects.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(breakers.stateOf('a')).toBe('open');
    await expect(viaA(false)).rejects.toBeInstanceOf(BrokenCircuitError);
  });

  it('snapshots non-closed keys and restores them', () => {
    const breakers = new KeyedCircuitBreaker<string>();
    breakers.isolate('x');
    const copy = new KeyedCircuitBreaker<string>();
    copy.restore(breakers.toJSON());
    expect(copy.stateOf('x')).toBe('isolated');
    copy.reset('x');
    expect(copy.stateOf('x')).toBe('closed');
    expect(copy.delete('x')).toBe(true);
    expect(() => new KeyedCircuitBreaker({ maxKeys: 0 })).toThrow(
      'KeyedCircuitBreaker: maxKeys must be an integer >= 1, got 0',
    );
  });
});

import {
  type CallContext,
  isNoHealthyUpstreamError,
  NoHealthyUpstreamError,
  rootContext,
  stack,
  VirtualClock,
  type Layer,
} from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { LoadBalancerLayer, UPSTREAM, upstreamOf } from './load-balancer-layer.js';
import { Maglev } from './maglev.js';
import { PeakEwma } from './peak-ewma.js';
import { seededRandom } from './random-source.js';
import { RoundRobin } from './round-robin.js';

interface Backend {
  readonly name: string;
  readonly port: number;
}

const backends: Backend[] = [
  { name: 'a', port: 8001 },
  { name: 'b', port: 8002 },
];

describe('LoadBalancerLayer', () => {
  it('tells inner layers which upstream it chose, through the context', async () => {
    const layer = new LoadBalancerLayer({ balancer: new RoundRobin({ upstreams: backends }) });
    const seen: string[] = [];
    const inner: Layer = {
      wrap:
        (next) =>
        (req, ctx = rootContext) => {
          seen.push(`inner saw ${upstreamOf(ctx)?.name ?? '?'}`);
          return next(req, ctx);
        },
    };
    const call = stack(layer, inner).wrap(async (path: string, ctx: CallContext) => {
      const upstream = upstreamOf<Backend>(ctx)!;
      return `GET http://127.0.0.1:${String(upstream.port)}${path}`;
    });
    expect(await call('/x')).toBe('GET http://127.0.0.1:8001/x');
    expect(await call('/y')).toBe('GET http://127.0.0.1:8002/y');
    expect(seen).toEqual(['inner saw a', 'inner saw b']);
    expect(rootContext.get(UPSTREAM)).toBeUndefined();
    expect(await layer.execute(async (ctx) => upstreamOf(ctx)?.name)).toBe('a');
  });

  it('counts calls in flight until they settle — resolved, rejected or thrown synchronously', async () => {
    const balancer = new RoundRobin({ upstreams: [{ name: 'only' }] });
    const entry = balancer.get('only')!;
    const layer = new LoadBalancerLayer({ balancer });
    let release: (value: string) => void = () => undefined;
    const slow = layer.wrap(() => new Promise<string>((resolve) => (release = resolve)));
    const pending = slow(undefined);
    expect(entry.inFlight).toBe(1);
    release('done');
    await expect(pending).resolves.toBe('done');
    expect(entry.inFlight).toBe(0);

    const failing = layer.wrap(() => Promise.reject(new Error('refused')));
    const failed = failing(undefined);
    expect(entry.inFlight).toBe(1);
    await expect(failed).rejects.toThrow('refused');
    expect(entry.inFlight).toBe(0);

    const throwing = layer.wrap((): Promise<string> => {
      throw new Error('sync');
    });
    await expect(throwing(undefined)).rejects.toThrow('sync');
    expect(entry.inFlight).toBe(0);
  });

  it('rejects with NoHealthyUpstreamError (overloaded) when nothing is available, without calling next', async () => {
    const balancer = new RoundRobin({ upstreams: backends, availability: [() => false] });
    const layer = new LoadBalancerLayer({ balancer });
    let calls = 0;
    const call = layer.wrap(async () => ++calls);
    const first = await call(undefined).catch((e: unknown) => e);
    const second = await call(undefined).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(NoHealthyUpstreamError);
    expect(isNoHealthyUpstreamError(first) && first.category).toBe('overloaded');
    expect((first as NoHealthyUpstreamError).message).toBe(
      'No healthy upstream (0 of 2 available)',
    );
    expect(second).toBe(first); // one shared instance while the membership size stays the same
    expect(calls).toBe(0);
    balancer.add({ name: 'c', port: 8003 });
    const third = await call(undefined).catch((e: unknown) => e);
    expect((third as NoHealthyUpstreamError).total).toBe(3);
  });

  it('feeds latencies on virtual time to a latency-aware policy', async () => {
    const clock = new VirtualClock();
    const balancer = new PeakEwma({ upstreams: backends, clock, random: seededRandom(1) });
    const layer = new LoadBalancerLayer({ balancer });
    const delays: Record<string, number> = { a: 40, b: 10 };
    const call = layer.wrap(
      (_req: undefined, ctx: CallContext) =>
        new Promise<string>((resolve) => {
          const name = upstreamOf(ctx)!.name;
          clock.setTimer(() => {
            resolve(name);
          }, delays[name]!);
        }),
    );
    // Two concurrent calls: the second goes to the upstream without a call in flight.
    const both = Promise.all([call(undefined), call(undefined)]);
    expect(balancer.entries().map((e) => e.inFlight)).toEqual([1, 1]);
    await clock.advanceAsync(40);
    expect((await both).sort()).toEqual(['a', 'b']);
    expect(balancer.get('a')!.latencyMs).toBe(40);
    expect(balancer.get('b')!.latencyMs).toBeCloseTo(10 * Math.exp(-30 / 10_000)); // 30 ms of decay since
  });

  it('hands the balancer a key computed from the request when given one', async () => {
    const balancer = new Maglev<Backend>({ upstreams: backends, tableSize: 1009 });
    const layer = new LoadBalancerLayer({
      balancer,
      key: (req: { user: string }) => req.user,
    });
    const call = layer.wrap(
      async (_req: { user: string }, ctx: CallContext) => upstreamOf(ctx)!.name,
    );
    for (const user of ['ann', 'bob', 'cyd', 'dee']) {
      expect(await call({ user })).toBe(balancer.ownerOf(user)!.name);
    }
  });

  it('turns an availability check that throws into a rejection', async () => {
    const layer = new LoadBalancerLayer({
      balancer: new RoundRobin({
        upstreams: backends,
        availability: [
          () => {
            throw new Error('check broke');
          },
        ],
      }),
    });
    await expect(layer.wrap(async () => 1)(undefined)).rejects.toThrow('check broke');
    expect(() => new LoadBalancerLayer({} as never)).toThrow(TypeError);
  });
});

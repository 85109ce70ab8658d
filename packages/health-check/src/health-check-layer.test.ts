import {
  type CallContext,
  createContextKey,
  type Handler,
  type Layer,
  rootContext,
  type Service,
  stack,
  TimeoutLayer,
  VirtualClock,
} from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { HealthCheckLayer } from './health-check-layer.js';
import { OutlierDetector } from './outlier-detector.js';

interface Upstream {
  readonly name: string;
}
const UPSTREAM = createContextKey<Upstream>('test-upstream');

/** A stand-in for the load balancer: picks the next upstream that the detector lets through. */
function roundRobin(upstreams: readonly Upstream[], isAvailable: (u: Upstream) => boolean): Layer {
  let next = 0;
  return {
    wrap<Req, Res>(inner: Handler<Req, Res>): Service<Req, Res> {
      return (req: Req, ctx: CallContext = rootContext) => {
        for (let i = 0; i < upstreams.length; i++) {
          const candidate = upstreams[next++ % upstreams.length]!;
          if (isAvailable(candidate)) return inner(req, ctx.with(UPSTREAM, candidate));
        }
        return Promise.reject(new Error('no healthy upstream'));
      };
    },
  };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const refused = (): Error =>
  Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('HealthCheckLayer', () => {
  it('reports each call for the upstream an outer load-balancer layer chose, which then skips ejected ones', async () => {
    const clock = new VirtualClock();
    const upstreams = [{ name: 'a' }, { name: 'b' }, { name: 'c' }];
    const detector = new OutlierDetector({
      upstreams,
      consecutiveFailures: 2,
      maxEjectionPercent: 50,
      clock,
    });
    const layer = new HealthCheckLayer({
      detector,
      upstreamOf: (_req, ctx) => ctx.get(UPSTREAM),
    });
    const hits: string[] = [];
    const send = stack(roundRobin(upstreams, detector.isAvailable), layer).wrap(
      async (_path: string, ctx: CallContext) => {
        const name = ctx.get(UPSTREAM)?.name ?? '?';
        hits.push(name);
        return { status: name === 'b' ? 503 : 200 };
      },
    );
    for (let i = 0; i < 6; i++) await send('/');
    await flush();
    expect(detector.isEjected('b')).toBe(true);
    hits.length = 0;
    for (let i = 0; i < 4; i++) await send('/');
    expect(hits).toHaveLength(4);
    expect(new Set(hits)).toEqual(new Set(['a', 'c'])); // b is skipped while ejected
  });

  it('returns the inner promise itself (no extra promise hop) and passes results and errors through', async () => {
    const detector = new OutlierDetector({
      upstreams: ['a', 'b'],
      consecutiveFailures: 1,
      clock: new VirtualClock(),
    });
    const layer = new HealthCheckLayer({ detector, upstreamOf: () => 'a' });
    const inner = Promise.resolve(42);
    const service = layer.wrap(() => inner);
    expect(service(undefined)).toBe(inner);
    const error = refused();
    await expect(layer.wrap(() => Promise.reject(error))(undefined)).rejects.toBe(error);
    await flush();
    expect(detector.isEjected('a')).toBe(true);
  });

  it('reports nothing for calls with no upstream or an unknown one', async () => {
    const detector = new OutlierDetector({
      upstreams: ['a', 'b'],
      consecutiveFailures: 1,
      clock: new VirtualClock(),
    });
    let name: string | undefined = undefined;
    const service = new HealthCheckLayer({ detector, upstreamOf: () => name }).wrap(() =>
      Promise.reject(refused()),
    );
    await expect(service(undefined)).rejects.toThrow();
    name = 'zzz';
    await expect(service(undefined)).rejects.toThrow();
    await flush();
    expect(detector.ejectedCount).toBe(0);
  });

  it("does not count the caller's own abort against the upstream, but counts a deadline", async () => {
    const detector = new OutlierDetector({
      upstreams: ['a', 'b', 'c'],
      consecutiveFailures: 1,
      maxEjectionPercent: 100,
      clock: new VirtualClock(),
    });
    const layer = new HealthCheckLayer({
      detector,
      upstreamOf: (_r, ctx) => ctx.get(UPSTREAM),
    });
    /** A layer that sends every call to `name`, as a balancer would. */
    const pin = (name: string): Layer => ({
      wrap:
        <Req, Res>(next: Handler<Req, Res>): Service<Req, Res> =>
        (req, ctx = rootContext) =>
          next(req, ctx.with(UPSTREAM, { name })),
    });
    /** An upstream call that only ends when its signal aborts, as an HTTP client would. */
    const hangs = (_req: unknown, ctx: CallContext): Promise<never> =>
      new Promise<never>((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => {
          reject(new Error('socket hang up'));
        });
      });

    const caller = new AbortController();
    const call = stack(pin('a'), layer).wrap(hangs)(
      undefined,
      rootContext.withSignal(caller.signal),
    );
    caller.abort();
    await expect(call).rejects.toThrow('socket hang up');
    await flush();
    expect(detector.isEjected('a')).toBe(false);

    const withDeadline = stack(new TimeoutLayer({ timeoutMs: 5 }), pin('b'), layer).wrap(hangs);
    await expect(withDeadline(undefined)).rejects.toThrow();
    await flush();
    expect(detector.isEjected('b')).toBe(true);

    // Right inside the deadline (its context creates its signal on first read), for a fixed upstream.
    const fixed = new HealthCheckLayer({ detector, upstreamOf: () => 'c' });
    const direct = stack(new TimeoutLayer({ timeoutMs: 5 }), fixed).wrap(hangs);
    await expect(direct(undefined)).rejects.toThrow();
    await flush();
    expect(detector.isEjected('c')).toBe(true);
  });

  it('turns a synchronous throw into a rejection and counts it', async () => {
    const detector = new OutlierDetector({
      upstreams: ['a', 'b'],
      consecutiveFailures: 1,
      clock: new VirtualClock(),
    });
    const service = new HealthCheckLayer({ detector, upstreamOf: () => 'a' }).wrap(() => {
      throw refused();
    });
    await expect(service(undefined)).rejects.toThrow('ECONNREFUSED');
    await flush();
    expect(detector.isEjected('a')).toBe(true);
    const badKey = new HealthCheckLayer({
      detector,
      upstreamOf: () => {
        throw new Error('no key');
      },
    }).wrap(async () => 1);
    await expect(badKey(undefined)).rejects.toThrow('no key');
  });

  it('runs a one-off call with execute(upstream, operation)', async () => {
    const detector = new OutlierDetector({
      upstreams: ['db', 'replica'],
      consecutiveFailures: 1,
      clock: new VirtualClock(),
    });
    const layer = new HealthCheckLayer({ detector, upstreamOf: () => undefined });
    await expect(layer.execute('db', async ({ attempt }) => attempt)).resolves.toBe(1);
    await expect(layer.execute('db', () => Promise.reject(refused()))).rejects.toThrow();
    await flush();
    expect(detector.isEjected('db')).toBe(true);
  });

  it('finds the upstream by object or by name, and follows removal, re-adding and renaming', async () => {
    const detector = new OutlierDetector({
      upstreams: ['a', 'b', 'c'],
      consecutiveFailures: 1,
      maxEjectionPercent: 100,
      clock: new VirtualClock(),
    });
    const a = { name: 'a' };
    let upstream: { name: string } | string = a;
    const service = new HealthCheckLayer({ detector, upstreamOf: () => upstream }).wrap(() =>
      Promise.reject(refused()),
    );
    const fail = async (): Promise<void> => {
      await expect(service(undefined)).rejects.toThrow();
      await flush();
    };
    await fail();
    expect(detector.isEjected('a')).toBe(true);
    detector.remove('a');
    detector.add('a'); // a fresh state under the same name: the cached one must not be used
    await fail();
    expect(detector.isEjected('a')).toBe(true);
    detector.reset('a');
    a.name = 'b'; // a renamed object is reported under its new name
    await fail();
    expect(detector.isEjected('b')).toBe(true);
    expect(detector.isEjected('a')).toBe(false);
    upstream = 'c';
    await fail();
    expect(detector.isEjected('c')).toBe(true);
  });

  it('finds the state of any number of upstream objects, also new objects for the same names', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `u${String(i)}`);
    const detector = new OutlierDetector({
      upstreams: names,
      consecutiveFailures: 5,
      maxEjectionPercent: 100,
      clock: new VirtualClock(),
    });
    let upstream: { name: string } = { name: 'u0' };
    const service = new HealthCheckLayer({ detector, upstreamOf: () => upstream }).wrap(() =>
      Promise.reject(refused()),
    );
    const failuresOf = (): (number | undefined)[] =>
      names.map((name) => detector.statusOf(name)?.consecutiveFailures);
    // More objects than the layer remembers, then the last eight again and again (remembered):
    // each failure goes to its own upstream.
    const objects = names.map((name) => ({ name }));
    for (const object of [...objects, ...objects.slice(4), ...objects.slice(4)]) {
      upstream = object;
      await expect(service(undefined)).rejects.toThrow();
    }
    await flush();
    expect(failuresOf()).toEqual([1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3]);
    // Fresh objects with the same names (a reloaded configuration) find the same states.
    for (const name of names.slice(0, 4)) {
      upstream = { name };
      await expect(service(undefined)).rejects.toThrow();
    }
    await flush();
    expect(failuresOf()).toEqual([2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3]);
  });

  it('asks a custom classifier about every result, the default one only about objects', async () => {
    const clock = new VirtualClock();
    const strict = new OutlierDetector({
      upstreams: ['a', 'b'],
      consecutiveFailures: 2,
      maxEjectionPercent: 100,
      clock,
      classifier: {
        classifyError: () => 'upstream',
        classifyResult: (result) => (result === false ? 'upstream' : 'success'),
      },
    });
    const answers: unknown[] = [false, true, false, false];
    const service = new HealthCheckLayer({ detector: strict, upstreamOf: () => 'a' }).wrap(
      async () => answers.shift(),
    );
    await service(undefined);
    await flush();
    expect(strict.statusOf('a')?.consecutiveFailures).toBe(1);
    await service(undefined); // a success resets the count
    await flush();
    expect(strict.statusOf('a')?.consecutiveFailures).toBe(0);
    await service(undefined);
    await service(undefined);
    await flush();
    expect(strict.isEjected('a')).toBe(true);

    const plain = new OutlierDetector({ upstreams: ['a', 'b'], consecutiveFailures: 2, clock });
    const results: unknown[] = [{ status: 503 }, false, { statusCode: 502 }, { status: 504 }];
    const fetchLike = new HealthCheckLayer({ detector: plain, upstreamOf: () => 'a' }).wrap(
      async () => results.shift(),
    );
    await fetchLike(undefined);
    await fetchLike(undefined); // not an object: a success for the default classifier
    await fetchLike(undefined);
    await flush();
    expect(plain.statusOf('a')?.consecutiveFailures).toBe(1);
    await fetchLike(undefined);
    await flush();
    expect(plain.isEjected('a')).toBe(true);
  });

  it('checks its options', () => {
    const detector = new OutlierDetector();
    expect(() => new HealthCheckLayer({ detector: {} as never, upstreamOf: () => 'a' })).toThrow(
      TypeError,
    );
    expect(() => new HealthCheckLayer({ detector, upstreamOf: 'a' as never })).toThrow(TypeError);
  });
});

import {
  createContextKey,
  isRateLimitedError,
  RateLimitedError,
  rootContext,
  stack,
  VirtualClock,
  type Layer,
} from '@proxykit/core';
import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it, vi } from 'vitest';
import { Gcra } from './gcra.js';
import { KeyedRateLimiter } from './keyed-rate-limiter.js';
import type { RejectEvent } from './rate-limit-events.js';
import { RateLimitLayer } from './rate-limit-layer.js';
import type { KeyedLimiter } from './rate-limiter.js';
import { TokenBucket } from './token-bucket.js';

interface Request {
  readonly client: string;
  readonly weight?: number;
}

const ok = async (req: Request): Promise<string> => `ok ${req.client}`;

describe('RateLimitLayer', () => {
  it('admits while the limiter allows and rejects with RateLimitedError without running the handler', async () => {
    const clock = new VirtualClock();
    const layer = new RateLimitLayer({
      limiter: new TokenBucket({ capacity: 2, refillPerSecond: 1, clock }),
    });
    const handler = vi.fn(ok);
    const service = layer.wrap(handler);
    await expect(service({ client: 'a' })).resolves.toBe('ok a');
    await expect(service({ client: 'b' })).resolves.toBe('ok b');
    const error = await service({ client: 'c' }).catch((e: unknown) => e);
    expect(isRateLimitedError(error)).toBe(true);
    expect((error as RateLimitedError).retryAfterMs).toBe(1000);
    expect((error as RateLimitedError).category).toBe('overloaded');
    expect(handler).toHaveBeenCalledTimes(2);
    clock.advance(1000);
    await expect(service({ client: 'd' })).resolves.toBe('ok d');
  });

  it('returns the handler’s own promise for an admitted call', () => {
    const layer = new RateLimitLayer({
      limiter: new TokenBucket({ capacity: 1, refillPerSecond: 1 }),
    });
    const pending = Promise.resolve('same');
    expect(layer.wrap(() => pending)(undefined)).toBe(pending);
  });

  it('keys by request and context, charges the request’s cost, and reports rejections', async () => {
    const TENANT = createContextKey<string>('tenant');
    const perTenant = new KeyedRateLimiter<string>({
      limiter: new Gcra({ limit: 10, periodMs: 60_000, burst: 5 }),
    });
    const layer = new RateLimitLayer({
      limiter: perTenant,
      key: (req: Request, ctx) => `${ctx.get(TENANT) ?? '-'}/${req.client}`,
      cost: (req) => req.weight ?? 1,
    });
    const rejects: RejectEvent<string>[] = [];
    const published: unknown[] = [];
    const onPublish = (message: unknown): void => {
      published.push(message);
    };
    diagnostics.subscribe('proxykit:rate-limit:reject', onPublish);
    const off = layer.onReject((event) => rejects.push(event));
    try {
      const withTenant: Layer<Request> = {
        wrap:
          (next) =>
          (req, ctx = rootContext) =>
            next(req, ctx.with(TENANT, 'acme')),
      };
      const service = stack(withTenant, layer).wrap(ok);
      await expect(service({ client: 'x', weight: 5 })).resolves.toBe('ok x');
      await expect(service({ client: 'y', weight: 5 })).resolves.toBe('ok y'); // another key
      await expect(service({ client: 'x' })).rejects.toBeInstanceOf(RateLimitedError);
      expect(rejects).toHaveLength(1);
      expect(rejects[0]?.key).toBe('acme/x');
      expect(rejects[0]?.cost).toBe(1);
      expect(rejects[0]?.retryAfterMs).toBeGreaterThan(0);
      expect(published).toEqual(rejects);
      expect(perTenant.has('acme/x')).toBe(true);
    } finally {
      off();
      diagnostics.unsubscribe('proxykit:rate-limit:reject', onPublish);
    }
  });

  it('rejects with the limiter’s RangeError for a cost it could never admit, and with key errors', async () => {
    const layer = new RateLimitLayer({
      limiter: new KeyedRateLimiter<string>({
        limiter: new TokenBucket({ capacity: 3, refillPerSecond: 1 }),
      }),
      key: (req: Request) => {
        if (req.client === '') throw new Error('no client');
        return req.client;
      },
      cost: (req) => req.weight ?? 1,
    });
    const handler = vi.fn(ok);
    const service = layer.wrap(handler);
    await expect(service({ client: 'a', weight: 4 })).rejects.toThrow(
      'TokenBucket: cost must be a number in (0, 3], got 4',
    );
    await expect(service({ client: '' })).rejects.toThrow('no client');
    expect(handler).not.toHaveBeenCalled();
  });

  it('works with an asynchronous keyed limiter (a store such as Redis)', async () => {
    const answers = [0, 0, 250];
    const remote: KeyedLimiter<string> = {
      keyed: true,
      maxCost: 1,
      admit: () => Promise.resolve(answers.shift() ?? 0),
    };
    const layer = new RateLimitLayer({ limiter: remote, key: (req: Request) => req.client });
    const service = layer.wrap(ok);
    expect(await service({ client: 'a' })).toBe('ok a');
    expect(await service({ client: 'b' })).toBe('ok b');
    const error = await service({ client: 'c' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(250);
  });

  it('runs one-off operations with execute', async () => {
    const layer = new RateLimitLayer({
      limiter: new TokenBucket({ capacity: 1, refillPerSecond: 1 }),
    });
    const controller = new AbortController();
    await expect(
      layer.execute(async ({ signal }) => signal === controller.signal, controller.signal),
    ).resolves.toBe(true);
    await expect(layer.execute(async () => 'again')).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('delivers a rejection after the caller has attached its handler: no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', record);
    try {
      const layer = new RateLimitLayer({
        limiter: new TokenBucket({ capacity: 1, refillPerSecond: 0.001 }),
      });
      const service = layer.wrap(ok);
      await service({ client: 'a' });
      for (let i = 0; i < 100; i++) await service({ client: 'a' }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('refuses a keyed limiter without a key function, and a key function for an unkeyed one', () => {
    const keyed = new KeyedRateLimiter<string>({ limiter: new Gcra({ limit: 1, periodMs: 1 }) });
    expect(() => new RateLimitLayer({ limiter: keyed } as never)).toThrow(
      'RateLimitLayer: a keyed limiter needs a key function',
    );
    expect(
      () =>
        new RateLimitLayer({
          limiter: new Gcra({ limit: 1, periodMs: 1 }),
          key: () => 'k',
        } as never),
    ).toThrow('RateLimitLayer: key is only for keyed limiters');
    expect(() => new RateLimitLayer({ limiter: {} } as never)).toThrow(TypeError);
  });
});

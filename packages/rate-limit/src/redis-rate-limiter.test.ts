/**
 * The Redis limiter's own logic — EVALSHA/EVAL, failure policies, recovery probing, timeouts,
 * events — against a scripted client on virtual time. Its behaviour against a real Redis server
 * (atomic scripts, shared limits across processes, a server killed and restarted) is in
 * test/redis.test.ts.
 */
import { isTimeoutError, VirtualClock } from '@proxykit/core';
import { createHash } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { Gcra } from './gcra.js';
import { KeyedRateLimiter } from './keyed-rate-limiter.js';
import type { FallbackChangeEvent, StoreErrorEvent } from './rate-limit-events.js';
import type { RedisScriptArg, RedisScriptClient } from './redis-client.js';
import { RedisRateLimiter, type RedisRateLimiterOptions } from './redis-rate-limiter.js';
import { SlidingWindow } from './sliding-window.js';
import { TokenBucket } from './token-bucket.js';

type Mode = 'up' | 'down' | 'hang' | 'garbage';

/** A Redis double: knows scripts once EVAL'd, answers with a fixed reply, or fails. */
class ScriptedRedis implements RedisScriptClient {
  mode: Mode = 'up';
  reply = 0;
  readonly calls: { command: string; keys: readonly string[]; args: readonly RedisScriptArg[] }[] =
    [];
  readonly #known = new Set<string>();

  evalsha(sha1: string, keys: readonly string[], args: readonly RedisScriptArg[]) {
    this.calls.push({ command: 'evalsha', keys, args });
    return this.#answer(this.#known.has(sha1) ? undefined : 'NOSCRIPT No matching script.');
  }

  eval(script: string, keys: readonly string[], args: readonly RedisScriptArg[]) {
    this.calls.push({ command: 'eval', keys, args });
    if (this.mode === 'up') this.#known.add(createHash('sha1').update(script).digest('hex'));
    return this.#answer(undefined);
  }

  flush(): void {
    this.#known.clear();
  }

  #answer(replyError: string | undefined): Promise<unknown> {
    switch (this.mode) {
      case 'down':
        return Promise.reject(
          Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
        );
      case 'hang':
        return new Promise(() => undefined);
      case 'garbage':
        return Promise.resolve('OK');
      case 'up':
        return replyError === undefined
          ? Promise.resolve(this.reply)
          : Promise.reject(new Error(replyError));
    }
  }
}

function setup(options: Partial<RedisRateLimiterOptions> = {}) {
  const clock = new VirtualClock(1_000);
  const redis = new ScriptedRedis();
  const limiter = new RedisRateLimiter({
    client: redis,
    limiter: new Gcra({ limit: 10, periodMs: 1000, burst: 10, clock }),
    recoveryIntervalMs: 500,
    clock,
    ...options,
  });
  const errors: StoreErrorEvent[] = [];
  const changes: FallbackChangeEvent[] = [];
  limiter.onStoreError((e) => errors.push(e));
  limiter.onFallbackChange((e) => changes.push(e));
  return { clock, redis, limiter, errors, changes };
}

describe('RedisRateLimiter', () => {
  it('runs the script by EVALSHA, loading it with EVAL when Redis does not know it', async () => {
    const { redis, limiter } = setup({ keyPrefix: 'api:' });
    expect(await limiter.admit('alice')).toBe(0);
    expect(await limiter.admit('alice', 3)).toBe(0);
    redis.reply = 1500; // µs
    expect(await limiter.admit('bob')).toBe(1.5);
    expect(await limiter.tryAdmit('bob')).toEqual({ admitted: false, retryAfterMs: 1.5 });
    expect(redis.calls.map((c) => c.command)).toEqual([
      'evalsha',
      'eval',
      'evalsha',
      'evalsha',
      'evalsha',
    ]);
    expect(redis.calls[0]?.keys).toEqual(['api:alice']);
    expect(redis.calls[0]?.args).toEqual(['1', '1000', '10000']); // cost, interval, horizon
    expect(redis.calls[2]?.args).toEqual(['3', '1000', '10000']);
    redis.flush(); // SCRIPT FLUSH, or a restarted server
    redis.reply = 0;
    expect(await limiter.admit('carol')).toBe(0);
    expect(redis.calls.slice(-2).map((c) => c.command)).toEqual(['evalsha', 'eval']);
  });

  it('sends the sliding window’s parameters to its own script', async () => {
    const redis = new ScriptedRedis();
    const limiter = new RedisRateLimiter({
      client: redis,
      limiter: new SlidingWindow({ limit: 100, windowMs: 60_000, buckets: 12 }),
    });
    await limiter.admit('k', 2);
    expect(redis.calls[0]?.args).toEqual(['2', '100', '5000', '12']);
    await expect(limiter.admit('k', 1.5)).rejects.toThrow(
      'RedisRateLimiter: cost must be an integer in (0, 100], got 1.5',
    );
    expect(redis.calls).toHaveLength(2); // a bad cost never reaches Redis
  });

  it('fails open by default, says so once, leaves Redis alone, then probes it with one call', async () => {
    const { clock, redis, limiter, errors, changes } = setup();
    await limiter.admit('k');
    redis.mode = 'down';
    expect(await limiter.admit('k')).toBe(0);
    expect(limiter.fallbackActive).toBe(true);
    expect(changes).toEqual([{ active: true, policy: 'fail-open', error: errors[0]?.error }]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.key).toBe('k');
    // Within the recovery interval Redis is not asked at all.
    const before = redis.calls.length;
    for (let i = 0; i < 100; i++) expect(await limiter.admit('k')).toBe(0);
    expect(redis.calls.length).toBe(before);
    // After it, one call probes (and fails); the others keep deciding locally meanwhile.
    clock.advance(500);
    const probe = limiter.admit('k');
    const others = [limiter.admit('k'), limiter.admit('k')];
    expect(await Promise.all([probe, ...others])).toEqual([0, 0, 0]);
    expect(redis.calls.length).toBe(before + 1);
    expect(errors).toHaveLength(2);
    expect(changes).toHaveLength(1);
    // Redis comes back: the next probe succeeds and Redis decides again.
    redis.mode = 'up';
    clock.advance(499);
    await limiter.admit('k');
    expect(redis.calls.length).toBe(before + 1);
    clock.advance(1);
    redis.reply = 7000;
    expect(await limiter.admit('k')).toBe(7);
    expect(limiter.fallbackActive).toBe(false);
    expect(changes).toEqual([
      { active: true, policy: 'fail-open', error: errors[0]?.error },
      { active: false, policy: 'fail-open' },
    ]);
    expect(await limiter.admit('k')).toBe(7);
    expect(redis.calls.length).toBe(before + 3);
  });

  it('fails closed with the time until Redis is tried again', async () => {
    const { clock, redis, limiter } = setup({ onStoreFailure: 'fail-closed' });
    redis.mode = 'down';
    expect(await limiter.admit('k')).toBe(500);
    clock.advance(200);
    expect(await limiter.admit('k')).toBe(300);
    clock.advance(299.5);
    expect(await limiter.admit('k')).toBe(1); // never less than 1 ms
    expect(limiter.policy).toBe('fail-closed');
  });

  it('falls back to a local limiter holding a share of the limit', async () => {
    const { redis, limiter, changes } = setup({
      onStoreFailure: { fallback: 'local', share: 0.5 },
    });
    redis.mode = 'down';
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) waits.push(await limiter.admit('k'));
    // Gcra: 10 per second, all at once; halved: 5 per second, all at once.
    expect(waits.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(waits[5]).toBe(1000);
    expect(await limiter.admit('other')).toBe(0); // per key
    expect(changes[0]?.policy).toBe('fallback');
    // A cost the share cannot hold is refused until Redis is tried again.
    expect(await limiter.admit('k', 8)).toBe(500);
  });

  it('falls back to the keyed limiter it is given', async () => {
    const clock = new VirtualClock();
    const fallback = new KeyedRateLimiter<string>({
      limiter: new TokenBucket({ capacity: 1, refillPerSecond: 1, clock }),
    });
    const redis = new ScriptedRedis();
    redis.mode = 'down';
    const limiter = new RedisRateLimiter({
      client: redis,
      limiter: new TokenBucket({ capacity: 100, refillPerSecond: 100 }),
      onStoreFailure: { fallback },
      clock,
    });
    expect(await limiter.admit('k')).toBe(0);
    expect(await limiter.admit('k')).toBe(1000);
    expect(fallback.has('k')).toBe(true);
  });

  it('gives up on a Redis that does not answer within timeoutMs', async () => {
    const { clock, redis, limiter, errors } = setup({
      timeoutMs: 100,
      onStoreFailure: 'fail-closed',
    });
    redis.mode = 'hang';
    const pending = limiter.admit('slow');
    await clock.advanceAsync(99);
    expect(errors).toHaveLength(0);
    await clock.advanceAsync(1);
    expect(await pending).toBe(500);
    expect(isTimeoutError(errors[0]?.error)).toBe(true);
    expect(clock.pendingTimers({ referencedOnly: true })).toBe(0);
  });

  it('can rely on the client’s own timeouts instead', async () => {
    const { redis, limiter } = setup({ timeoutMs: Infinity });
    expect(await limiter.admit('k')).toBe(0);
    redis.mode = 'down';
    expect(await limiter.admit('k')).toBe(0);
    expect(limiter.fallbackActive).toBe(true);
  });

  it('treats a reply that is not a number as a store error', async () => {
    const { redis, limiter, errors } = setup();
    redis.mode = 'garbage';
    expect(await limiter.admit('k')).toBe(0);
    expect(String(errors[0]?.error)).toContain('unexpected script reply OK');
  });

  it('publishes store errors and switches on diagnostics channels', async () => {
    const seen: string[] = [];
    const onError = (): void => {
      seen.push('store-error');
    };
    const onChange = (): void => {
      seen.push('fallback-change');
    };
    diagnostics.subscribe('proxykit:rate-limit:store-error', onError);
    diagnostics.subscribe('proxykit:rate-limit:fallback-change', onChange);
    try {
      const redis = new ScriptedRedis();
      redis.mode = 'down';
      const limiter = new RedisRateLimiter({
        client: redis,
        limiter: new Gcra({ limit: 1, periodMs: 1 }),
      });
      await limiter.admit('k');
      expect(seen).toEqual(['store-error', 'fallback-change']);
    } finally {
      diagnostics.unsubscribe('proxykit:rate-limit:store-error', onError);
      diagnostics.unsubscribe('proxykit:rate-limit:fallback-change', onChange);
    }
  });

  it('rejects bad options', () => {
    const limiter = new Gcra({ limit: 1, periodMs: 1 });
    const client = new ScriptedRedis();
    expect(() => new RedisRateLimiter({ client: {} as RedisScriptClient, limiter })).toThrow(
      'RedisRateLimiter: client must have evalsha and eval methods',
    );
    expect(() => new RedisRateLimiter({ client, limiter, recoveryIntervalMs: 0 })).toThrow(
      'RedisRateLimiter: recoveryIntervalMs must be a number in (0, 2147483647], got 0',
    );
    expect(() => new RedisRateLimiter({ client, limiter, timeoutMs: -1 })).toThrow(RangeError);
    expect(
      () =>
        new RedisRateLimiter({ client, limiter, onStoreFailure: { fallback: 'local', share: 2 } }),
    ).toThrow('RedisRateLimiter: onStoreFailure.share must be a number in (0, 1], got 2');
    expect(
      () => new RedisRateLimiter({ client, limiter, onStoreFailure: 'retry' as never }),
    ).toThrow(TypeError);
  });
});

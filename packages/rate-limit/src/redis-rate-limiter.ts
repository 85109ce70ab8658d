/**
 * Why: ten proxy instances must share one limit, and Redis is the store their operators already
 * run. Each decision is one EVALSHA of a Lua script (EVAL when the server does not know it yet)
 * that reads, decides and writes atomically with the server's clock — the algorithms of this
 * package, term for term, so a limit means the same in Redis as in memory. Keys expire once
 * their state is back to a fresh key's.
 *
 * When Redis fails, the limiter does what it was told — fail open, fail closed, or decide with a
 * local limiter holding a share of the limit (rate-limiter-flexible's "insurance limiter", Envoy's
 * `failure_mode_deny`) — and says so once with an event. It then leaves Redis alone for
 * `recoveryIntervalMs` and lets a single call probe it, like a circuit breaker's half-open
 * state, so that a dead Redis costs nothing per call and a revived one is used again at once.
 */
import {
  type Clock,
  DeadlineEntry,
  DeadlineQueue,
  type Disposer,
  MAX_TIMER_DELAY_MS,
  requireNumber,
  TimeoutError,
} from '@proxykit/core';
import { type KeyableLimiter, KeyedRateLimiter } from './keyed-rate-limiter.js';
import {
  type FallbackChangeEvent,
  fallbackChangeEmitter,
  type FailurePolicyName,
  type StoreErrorEvent,
  storeErrorEmitter,
} from './rate-limit-events.js';
import { costError, type KeyedLimiter, type RateDecision, toDecision } from './rate-limiter.js';
import type { RedisScriptArg, RedisScriptClient } from './redis-client.js';
import { scriptPlan, type ScriptPlan } from './redis-scripts.js';
import { SlidingWindow } from './sliding-window.js';

/**
 * What a {@link RedisRateLimiter} does while Redis cannot decide (an error or a timeout):
 *
 * - `'fail-open'`: admit every call (availability first; Envoy's default).
 * - `'fail-closed'`: reject every call, with `retryAfterMs` until Redis is tried again.
 * - `{ fallback: 'local', share }`: decide with a local {@link KeyedRateLimiter} of the same
 *   algorithm holding `share` of the limit (e.g. `1 / instances`), keys capped at `maxKeys`.
 * - `{ fallback: keyedLimiter }`: decide with the local keyed limiter you give.
 */
export type RedisFailurePolicy =
  | 'fail-open'
  | 'fail-closed'
  | {
      /** Fall back to an in-process limiter built from the same limit. */
      readonly fallback: 'local';
      /** Share of the limit this instance may admit on its own, in (0, 1]. */
      readonly share: number;
      /** Keys the local fallback tracks at most. */
      readonly maxKeys?: number;
    }
  | {
      /** Fall back to this keyed limiter while Redis is unreachable. */
      readonly fallback: KeyedRateLimiter<string>;
    };

/** Options for {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /** The Redis client, through {@link fromIoredis} or your own two-method adapter. */
  readonly client: RedisScriptClient;
  /**
   * The limit every key gets, given as a local limiter configured for one key: a `TokenBucket`,
   * `Gcra`, `SlidingWindow` or `LeakyBucket` (as a meter). Only its configuration is used.
   */
  readonly limiter: KeyableLimiter;
  /** Prefix of every Redis key; default `'proxykit:rl:'`. Give each distinct limit its own. */
  readonly keyPrefix?: string;
  /** What to do while Redis cannot decide; default `'fail-open'`. */
  readonly onStoreFailure?: RedisFailurePolicy;
  /**
   * After a failure, how long to decide by the policy alone before one call probes Redis again,
   * in ms, in (0, 2147483647]; default 1000.
   */
  readonly recoveryIntervalMs?: number;
  /**
   * Longest wait for Redis's answer before the failure policy decides, in ms, in
   * (0, 2147483647], or `Infinity` to rely on the client's own timeouts; default 500.
   */
  readonly timeoutMs?: number;
  /** Local time source for the recovery interval, timeouts and the fallback; default: the limiter's. */
  readonly clock?: Clock;
}

/** A decision waiting for Redis's answer (in the timeout queue when there is one). */
class PendingDecision extends DeadlineEntry {
  /** Whether the script was sent by source (after NOSCRIPT). */
  loaded = false;
  onReply: (reply: unknown) => void = noop;
  onError: (error: unknown) => void = noop;

  constructor(
    readonly key: string,
    readonly cost: number,
    readonly probe: boolean,
    readonly resolve: (retryAfterMs: number) => void,
    readonly keys: readonly string[],
    readonly args: readonly RedisScriptArg[],
  ) {
    super();
  }
}

function noop(): void {
  // Replaced before use.
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/**
 * A keyed rate limiter whose state lives in Redis, shared by every process that uses the same
 * Redis, key prefix and configuration. One round trip per decision; Redis's clock.
 *
 * `admit(key, cost)` resolves with 0 (admitted) or the ms until the cost would be admitted, like
 * the local limiters' `admit`; it rejects only for a cost out of range. Redis errors and timeouts
 * never reject: the failure policy decides, `onStoreError` reports each one and
 * `onFallbackChange` the switches.
 *
 * @example
 * ```ts
 * const redis = new Redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 200 });
 * redis.on('error', () => {}); // reported through onStoreError
 * const perUser = new RedisRateLimiter({
 *   client: fromIoredis(redis),
 *   limiter: new TokenBucket({ capacity: 20, refillPerSecond: 10 }),
 *   keyPrefix: 'api:per-user:',
 *   onStoreFailure: { fallback: 'local', share: 1 / 10 }, // ten instances
 * });
 * const layer = new RateLimitLayer({ limiter: perUser, key: (req: Request) => req.userId });
 * ```
 */
export class RedisRateLimiter implements KeyedLimiter<string> {
  /** Always true: a {@link RateLimitLayer} picks a key for each call. */
  readonly keyed = true;
  /** The per-key limiter's configuration. */
  readonly limiter: KeyableLimiter;
  /** The largest cost of one call. */
  readonly maxCost: number;
  /** The prefix of every Redis key. */
  readonly keyPrefix: string;
  /** The failure policy's name. */
  readonly policy: FailurePolicyName;
  readonly #client: RedisScriptClient;
  readonly #plan: ScriptPlan;
  readonly #clock: Clock;
  readonly #recoveryIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #fallback: KeyedRateLimiter<string> | undefined;
  readonly #deadlines: DeadlineQueue<PendingDecision> | undefined;
  readonly #integerCost: boolean;
  readonly #onStoreError = storeErrorEmitter();
  readonly #onFallbackChange = fallbackChangeEmitter();
  #down = false;
  #probing = false;
  #retryAt = 0;

  /** @throws RangeError or TypeError naming the first invalid option */
  constructor(options: RedisRateLimiterOptions) {
    const owner = 'RedisRateLimiter';
    const client = options.client as Partial<RedisScriptClient> | undefined;
    if (typeof client?.evalsha !== 'function' || typeof client.eval !== 'function') {
      throw new TypeError(
        `${owner}: client must have evalsha and eval methods (use fromIoredis(redis) for ioredis)`,
      );
    }
    this.#client = options.client;
    const limiter = options.limiter;
    this.#plan = scriptPlan(limiter);
    this.limiter = limiter;
    this.maxCost = limiter.maxCost;
    this.#integerCost = limiter instanceof SlidingWindow || limiter.integerCost;
    this.keyPrefix = options.keyPrefix ?? 'proxykit:rl:';
    this.#clock = options.clock ?? limiter.clock;
    this.#recoveryIntervalMs = requireNumber(
      owner,
      'recoveryIntervalMs',
      options.recoveryIntervalMs ?? 1000,
      0,
      MAX_TIMER_DELAY_MS,
    );
    const timeoutMs = options.timeoutMs ?? 500;
    this.#timeoutMs =
      timeoutMs === Infinity
        ? Infinity
        : requireNumber(owner, 'timeoutMs', timeoutMs, 0, MAX_TIMER_DELAY_MS);
    this.#deadlines =
      this.#timeoutMs === Infinity
        ? undefined
        : new DeadlineQueue<PendingDecision>(this.#clock, this.#expire);
    const policy = options.onStoreFailure ?? 'fail-open';
    if (policy === 'fail-open' || policy === 'fail-closed') {
      this.policy = policy;
      this.#fallback = undefined;
    } else if (typeof policy === 'object' && policy.fallback === 'local') {
      const share = requireNumber(owner, 'onStoreFailure.share', policy.share, 0, 1);
      this.policy = 'fallback';
      this.#fallback = new KeyedRateLimiter<string>({
        limiter: limiter.scaled(share),
        ...(policy.maxKeys === undefined ? {} : { maxKeys: policy.maxKeys }),
      });
    } else if (typeof policy === 'object' && policy.fallback instanceof KeyedRateLimiter) {
      this.policy = 'fallback';
      this.#fallback = policy.fallback;
    } else {
      throw new TypeError(
        `${owner}: onStoreFailure must be 'fail-open', 'fail-closed', { fallback: 'local', share } or { fallback: keyedRateLimiter }`,
      );
    }
  }

  /** True while Redis is considered down and the failure policy decides. */
  get fallbackActive(): boolean {
    return this.#down;
  }

  /**
   * Admits a call for `key` and charges `cost` when the shared limit allows it, resolving with 0;
   * otherwise resolves with the ms until it would be admitted. While Redis fails, the failure
   * policy decides. Rejects only with a RangeError for a cost out of range.
   *
   * @param key the client, user or token the limit applies to (the Redis key is prefix + key)
   * @param cost units this call uses, in (0, maxCost] (default 1)
   */
  admit(key: string, cost = 1): Promise<number> {
    if (!(cost > 0 && cost <= this.maxCost) || (this.#integerCost && !Number.isInteger(cost))) {
      return Promise.reject(costError('RedisRateLimiter', cost, this.maxCost, this.#integerCost));
    }
    let probe = false;
    if (this.#down) {
      const now = this.#clock.now();
      if (this.#probing || now < this.#retryAt) {
        return Promise.resolve(this.#withoutStore(key, cost, now));
      }
      this.#probing = probe = true;
    }
    const keys = [this.keyPrefix + key];
    const args = this.#plan.args(cost);
    return new Promise<number>((resolve) => {
      const pending = new PendingDecision(key, cost, probe, resolve, keys, args);
      pending.onReply = (reply: unknown): void => {
        this.#reply(pending, reply);
      };
      pending.onError = (error: unknown): void => {
        this.#error(pending, error);
      };
      this.#deadlines?.push(pending, this.#clock.now() + this.#timeoutMs);
      this.#send(pending);
    });
  }

  /**
   * The decision of {@link RedisRateLimiter.admit} as a `RateDecision`.
   *
   * @param key the client, user or token the limit applies to
   * @param cost units this call uses, in (0, maxCost] (default 1)
   */
  tryAdmit(key: string, cost = 1): Promise<RateDecision> {
    return this.admit(key, cost).then(toDecision);
  }

  /** Subscribes to decisions Redis could not make (also on `proxykit:rate-limit:store-error`). */
  onStoreError(listener: (event: StoreErrorEvent) => void): Disposer {
    return this.#onStoreError.on(listener);
  }

  /**
   * Subscribes to switches to the failure policy and back to Redis (also on
   * `proxykit:rate-limit:fallback-change`).
   */
  onFallbackChange(listener: (event: FallbackChangeEvent) => void): Disposer {
    return this.#onFallbackChange.on(listener);
  }

  /** Sends the decision's script: by digest, or by source once Redis said NOSCRIPT. */
  #send(pending: PendingDecision): void {
    const plan = this.#plan;
    let sent: Promise<unknown>;
    try {
      sent = pending.loaded
        ? this.#client.eval(plan.source, pending.keys, pending.args)
        : this.#client.evalsha(plan.sha1, pending.keys, pending.args);
    } catch (error) {
      this.#error(pending, error);
      return;
    }
    sent.then(pending.onReply, pending.onError);
  }

  /** Whether the decision is still waiting for Redis (it has not timed out); takes it out of the queue. */
  #claim(pending: PendingDecision): boolean {
    return this.#deadlines === undefined || this.#deadlines.remove(pending);
  }

  #reply(pending: PendingDecision, reply: unknown): void {
    // An answer after the timeout changes nothing: the policy has decided that call.
    if (!this.#claim(pending)) return;
    pending.resolve(this.#decided(reply, pending.key, pending.cost, pending.probe));
  }

  #error(pending: PendingDecision, error: unknown): void {
    if (!pending.loaded && isNoScript(error)) {
      // First use, a restarted server, SCRIPT FLUSH: send the script itself (which loads it).
      pending.loaded = true;
      this.#send(pending);
      return;
    }
    if (!this.#claim(pending)) return;
    pending.resolve(this.#failed(error, pending.key, pending.cost, pending.probe));
  }

  #decided(reply: unknown, key: string, cost: number, probe: boolean): number {
    const micros = typeof reply === 'number' ? reply : Number(reply);
    if (!(micros >= 0)) {
      return this.#failed(
        new TypeError(`RedisRateLimiter: unexpected script reply ${String(reply)}`),
        key,
        cost,
        probe,
      );
    }
    if (probe) {
      this.#probing = false;
      if (this.#down) {
        this.#down = false;
        if (this.#onFallbackChange.wanted) {
          this.#onFallbackChange.emit({ active: false, policy: this.policy });
        }
      }
    }
    return micros / 1000;
  }

  #failed(error: unknown, key: string, cost: number, probe: boolean): number {
    const now = this.#clock.now();
    if (this.#onStoreError.wanted) this.#onStoreError.emit({ key, error, policy: this.policy });
    if (probe) this.#probing = false;
    this.#retryAt = now + this.#recoveryIntervalMs;
    if (!this.#down) {
      this.#down = true;
      if (this.#onFallbackChange.wanted) {
        this.#onFallbackChange.emit({ active: true, policy: this.policy, error });
      }
    }
    return this.#withoutStore(key, cost, now);
  }

  /** The failure policy's decision. */
  #withoutStore(key: string, cost: number, now: number): number {
    const fallback = this.#fallback;
    if (fallback !== undefined && cost <= fallback.maxCost) return fallback.admit(key, cost, now);
    if (this.policy === 'fail-open') return 0;
    // Fail closed (or a cost the fallback's share cannot hold): until Redis is tried again.
    return Math.max(1, this.#retryAt - now);
  }

  readonly #expire = (pending: PendingDecision): void => {
    pending.resolve(
      this.#failed(new TimeoutError(this.#timeoutMs), pending.key, pending.cost, pending.probe),
    );
  };
}

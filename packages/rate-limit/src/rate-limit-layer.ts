/**
 * Why: the seed's `.layer(RateLimiter.token_bucket(1000, 1000))` — a limiter in front of a
 * handler, rejecting with the error the rest of the stack already understands
 * (`RateLimitedError` with `retryAfterMs`, category `overloaded`, which a retry layer honours as
 * a 429 would be). The key comes from the request (client address, user, token) or from what an
 * outer layer put in the context; the cost too. An admitted call goes straight to the handler with
 * no promise in between; a rejection costs one small error and no stack trace, delivered with
 * core's `rejectSoon`. A store-backed limiter (Redis) works the same, one round trip later.
 */
import {
  type CallContext,
  createContext,
  type Disposer,
  type Handler,
  type Layer,
  type Operation,
  RateLimitedError,
  rejectSoon,
  rootContext,
  type Service,
} from '@proxykit/core';
import { type RejectEvent, rejectEmitter } from './rate-limit-events.js';
import type { KeyedLimiter, RateLimiter } from './rate-limiter.js';

/** Options of a {@link RateLimitLayer} in front of one shared limiter. */
export interface UnkeyedRateLimitLayerOptions<Req> {
  /** The limiter every call goes through. */
  readonly limiter: RateLimiter;
  /** Must be absent: an unkeyed limiter has no keys. */
  readonly key?: undefined;
  /** The cost of a request (default: 1 for every request). */
  readonly cost?: (req: Req) => number;
}

/** Options of a {@link RateLimitLayer} in front of a keyed limiter (local or Redis). */
export interface KeyedRateLimitLayerOptions<Req, K> {
  /** The keyed limiter: a `KeyedRateLimiter`, a `RedisRateLimiter` or your own. */
  readonly limiter: KeyedLimiter<K>;
  /** Picks the key of a request: client address, user id, API token, a context value… */
  readonly key: (req: Req, ctx: CallContext) => K;
  /** The cost of a request (default: 1 for every request). */
  readonly cost?: (req: Req) => number;
}

/** Options of {@link RateLimitLayer}. */
export type RateLimitLayerOptions<Req, K> =
  UnkeyedRateLimitLayerOptions<Req> | KeyedRateLimitLayerOptions<Req, K>;

/**
 * A layer that admits calls through a rate limiter and rejects the others with
 * `RateLimitedError` (`retryAfterMs`: when the same cost would be admitted). A cost outside the
 * limiter's range rejects with the limiter's `RangeError`; an error of the key or cost function
 * rejects with that error. Neither runs the handler.
 *
 * @example
 * ```ts
 * const perClient = new KeyedRateLimiter<string>({
 *   limiter: new TokenBucket({ capacity: 20, refillPerSecond: 10 }),
 * });
 * const limited = new RateLimitLayer({
 *   limiter: perClient,
 *   key: (req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown',
 * }).wrap(handle);
 * ```
 */
export class RateLimitLayer<Req = unknown, K = unknown> implements Layer<Req> {
  /** The limiter calls go through. */
  readonly limiter: RateLimiter | KeyedLimiter<K>;
  readonly #key: ((req: Req, ctx: CallContext) => K) | undefined;
  readonly #cost: ((req: Req) => number) | undefined;
  readonly #onReject = rejectEmitter<K>();

  /** @throws TypeError when a keyed limiter comes without a key function, or the reverse */
  constructor(options: RateLimitLayerOptions<Req, K>) {
    const keyed = (options.limiter as Partial<KeyedLimiter<K>>).keyed === true;
    if (keyed !== (options.key !== undefined)) {
      throw new TypeError(
        keyed
          ? 'RateLimitLayer: a keyed limiter needs a key function: key: (req, ctx) => key'
          : 'RateLimitLayer: key is only for keyed limiters (KeyedRateLimiter, RedisRateLimiter)',
      );
    }
    if (typeof options.limiter.admit !== 'function') {
      throw new TypeError('RateLimitLayer: limiter must have an admit method');
    }
    this.limiter = options.limiter;
    this.#key = options.key;
    this.#cost = options.cost;
  }

  /** Returns `next` behind the limiter. */
  wrap<R extends Req, Res>(next: Handler<R, Res>): Service<R, Res> {
    const keyOf = this.#key;
    const costOf = this.#cost;
    if (keyOf === undefined) {
      const limiter = this.limiter as RateLimiter;
      return (req: R, ctx: CallContext = rootContext): Promise<Res> => {
        let cost = 1;
        let wait: number;
        try {
          if (costOf !== undefined) cost = costOf(req);
          wait = limiter.admit(cost);
        } catch (error) {
          return Promise.reject(error);
        }
        return wait === 0 ? next(req, ctx) : this.#rejection(undefined, cost, wait);
      };
    }
    const limiter = this.limiter as KeyedLimiter<K>;
    return (req: R, ctx: CallContext = rootContext): Promise<Res> => {
      let key: K;
      let cost = 1;
      let wait: number | Promise<number>;
      try {
        key = keyOf(req, ctx);
        if (costOf !== undefined) cost = costOf(req);
        wait = limiter.admit(key, cost);
      } catch (error) {
        return Promise.reject(error);
      }
      if (wait === 0) return next(req, ctx);
      if (typeof wait === 'number') return this.#rejection(key, cost, wait);
      return wait.then((ms) => {
        if (ms === 0) return next(req, ctx);
        throw this.#limited(key, cost, ms);
      });
    };
  }

  /**
   * Runs one operation through the limiter. A key function receives `undefined` as the request.
   *
   * @example
   * ```ts
   * const rows = await limitLayer.execute(({ signal }) => pool.query({ text: 'SELECT 1', signal }));
   * ```
   */
  execute<Res>(operation: Operation<Res>, signal?: AbortSignal): Promise<Res> {
    const service = this.wrap((_req: Req, ctx: CallContext) => operation(ctx));
    return service(undefined as Req, createContext({ signal }));
  }

  /** Subscribes to rejected calls (also published on `proxykit:rate-limit:reject`). */
  onReject(listener: (event: RejectEvent<K>) => void): Disposer {
    return this.#onReject.on(listener);
  }

  #limited(key: K | undefined, cost: number, retryAfterMs: number): RateLimitedError {
    if (this.#onReject.wanted) this.#onReject.emit({ key, cost, retryAfterMs });
    return new RateLimitedError(retryAfterMs);
  }

  #rejection(key: K | undefined, cost: number, retryAfterMs: number): Promise<never> {
    return rejectSoon(this.#limited(key, cost, retryAfterMs));
  }
}

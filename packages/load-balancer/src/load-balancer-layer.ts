/**
 * Why: in a layer stack the balancer is the point where one logical call becomes a call to one
 * upstream. Like tower's `Balance` service and Envoy's router, the layer picks, tells the layers
 * inside it which upstream it chose (through the call context, so a per-upstream circuit breaker
 * and the upstream client can read it), counts the call in flight until it settles, and feeds its
 * latency back to policies that use it. When nothing is available it rejects at once with
 * NoHealthyUpstreamError (category `overloaded`), cheaply: no stack, one shared instance.
 */
import {
  type CallContext,
  type ContextKey,
  createContextKey,
  execute,
  type Handler,
  type Layer,
  NoHealthyUpstreamError,
  type Operation,
  rejectSoon,
  rootContext,
  type Service,
} from '@proxykit/core';
import type { LoadBalancer } from './load-balancer.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/**
 * The context key under which {@link LoadBalancerLayer} stores the upstream it chose for a call.
 * Read it with {@link upstreamOf}.
 */
export const UPSTREAM: ContextKey<UpstreamLike> = createContextKey<UpstreamLike>(
  '@proxykit/load-balancer:upstream',
);

/**
 * The upstream an outer {@link LoadBalancerLayer} chose for this call, or `undefined` outside
 * one. `U` is the upstream type the balancer was given (not checked at run time).
 *
 * @example
 * ```ts
 * const send = async (req: Req, ctx: CallContext) => {
 *   const upstream = upstreamOf<Upstream>(ctx)!;
 *   return fetch(`http://${upstream.host}:${upstream.port}${req.path}`, { signal: ctx.signal });
 * };
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names its upstream type
export function upstreamOf<U extends UpstreamLike = UpstreamLike>(ctx: CallContext): U | undefined {
  return ctx.get(UPSTREAM) as U | undefined;
}

/** Options of {@link LoadBalancerLayer}. */
export interface LoadBalancerLayerOptions<U extends UpstreamLike = UpstreamLike, In = unknown> {
  /** The policy that picks. */
  readonly balancer: LoadBalancer<U>;
  /**
   * What the balancer's `pick` receives instead of the request — e.g. a hash key for a Maglev
   * built without a `key` function: `(req) => req.headers['x-user-id']`. By default the request
   * itself.
   */
  readonly key?: (request: In, ctx: CallContext) => unknown;
}

/**
 * Sends each call to an upstream chosen by a {@link LoadBalancer}: stores the choice in the
 * context under {@link UPSTREAM}, counts the call in flight until it settles (also when it throws),
 * reports its latency to policies that track it, and rejects with `NoHealthyUpstreamError` when
 * nothing is available.
 *
 * @example
 * ```ts
 * const balance = new LoadBalancerLayer({ balancer: new PeakEwma({ upstreams }) });
 * const breakers = new KeyedCircuitBreaker<string>();
 * const send = stack(balance, breakers.layer((_req, ctx) => upstreamOf(ctx)!.name)).wrap(callUpstream);
 * ```
 */
export class LoadBalancerLayer<
  U extends UpstreamLike = UpstreamLike,
  In = unknown,
> implements Layer<In> {
  /** The policy that picks. */
  readonly balancer: LoadBalancer<U>;
  readonly #key: ((request: In, ctx: CallContext) => unknown) | undefined;
  #rejection: NoHealthyUpstreamError | undefined;

  /** @throws TypeError when `balancer` is missing */
  constructor(options: LoadBalancerLayerOptions<U, In>) {
    if (typeof (options as Partial<typeof options>).balancer?.pickEntry !== 'function') {
      throw new TypeError('LoadBalancerLayer: balancer must be a LoadBalancer');
    }
    this.balancer = options.balancer;
    this.#key = options.key;
  }

  /** Returns `next` behind the balancer; `next` finds its upstream with {@link upstreamOf}. */
  wrap<Req extends In, Res>(next: Handler<Req, Res>): Service<Req, Res> {
    const balancer = this.balancer;
    const key = this.#key;
    return (req: Req, ctx: CallContext = rootContext): Promise<Res> => {
      let entry: UpstreamEntry<U> | undefined;
      try {
        entry = balancer.pickEntry(key === undefined ? req : key(req, ctx));
      } catch (error) {
        return Promise.reject(error); // a key function or an availability check threw
      }
      if (entry === undefined) return rejectSoon(this.#noUpstream());
      const startedAt = balancer.begin(entry);
      let pending: Promise<Res>;
      try {
        pending = next(req, ctx.with(UPSTREAM, entry.upstream));
      } catch (error) {
        balancer.end(entry, startedAt);
        return Promise.reject(error);
      }
      // Settle on a side branch and hand the caller the inner promise itself: no extra hop, and
      // reactions run in registration order, so the count is down before the caller resumes.
      const settle = (): void => {
        balancer.end(entry, startedAt);
      };
      pending.then(settle, settle);
      return pending;
    };
  }

  /** Runs one operation through the balancer; it reads its upstream with {@link upstreamOf}. */
  execute<Res>(operation: Operation<Res>, signal?: AbortSignal): Promise<Res> {
    return execute(this as unknown as Layer, operation, signal);
  }

  /** The rejection for "nothing available", shared while the number of upstreams stays the same. */
  #noUpstream(): NoHealthyUpstreamError {
    const total = this.balancer.size;
    let rejection = this.#rejection;
    if (rejection?.total !== total) {
      rejection = new NoHealthyUpstreamError(total);
      this.#rejection = rejection;
    }
    return rejection;
  }
}

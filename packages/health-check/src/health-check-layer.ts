/**
 * Why: passive health checking needs every live call's outcome, so it sits on the request path
 * and must cost next to nothing there — Envoy's outlier detector likewise sees every response
 * its router forwards. The layer goes inside the load balancer: the balancer picks an upstream
 * and stores it in the call's context under its own key; `upstreamOf` reads it back, and the
 * call's outcome goes to that upstream's passive state.
 *
 * The hot path, like the circuit breaker's closed path: the outcome is recorded on a side branch
 * (`pending.then(onValue, onError)`) with handlers shared per upstream, and the caller gets the
 * inner promise itself — no promise hop. A call whose context cannot abort (a context of core's own
 * kind whose signal is `NEVER_ABORTED`, such as `rootContext` and the contexts made from it)
 * allocates nothing more than that `.then`. Any other call costs one small closure, made outside
 * the hot function (so the hot function has no captured variables and allocates no scope of its
 * own), which keeps the context so that the caller's own abort can be told apart from the
 * upstream's failure (the signal is read only if the call fails: a `TimeoutLayer` context creates
 * it on first read). With the default classifier a successful call costs its handler one
 * comparison.
 *
 * Finding the upstream's state: the layer remembers, for the last few upstream objects it saw,
 * which state each belongs to (a scan of a handful of identities, with the name checked, is
 * cheaper than hashing the name); other objects and plain names take one Map look-up by name.
 */
import {
  type CallContext,
  createContext,
  type Handler,
  type Layer,
  NEVER_ABORTED,
  type Operation,
  rootContext,
  type Service,
} from '@proxykit/core';
import type { Named } from './health-probe.js';
import type { OutlierDetector, PassiveSlot } from './outlier-detector.js';

/** Options of {@link HealthCheckLayer}. */
export interface HealthCheckLayerOptions<Req = unknown> {
  /** Where outcomes go (`healthChecker.passive`, or an `OutlierDetector` of your own). */
  readonly detector: OutlierDetector;
  /**
   * The upstream a call goes to — the object an outer load-balancer layer put in the context,
   * `(_req, ctx) => ctx.get(UPSTREAM)`, or its name. Outcomes are keyed by the upstream's `name`.
   * Calls for which it returns `undefined`, or an upstream the detector does not watch, are not
   * reported.
   */
  readonly upstreamOf: (req: Req, ctx: CallContext) => Named | string | undefined;
}

/**
 * Reports the outcome of each call to the passive health state of the upstream it went to.
 *
 * @example
 * ```ts
 * const layer = new HealthCheckLayer({ detector: outliers, upstreamOf: (_req, ctx) => ctx.get(UPSTREAM) });
 * const send = stack(loadBalancer, layer).wrap(callUpstream);
 * ```
 */
export class HealthCheckLayer<In = unknown> implements Layer<In> {
  /** The detector outcomes are reported to. */
  readonly detector: OutlierDetector;
  /** How the upstream of a call is found. */
  readonly upstreamOf: (req: In, ctx: CallContext) => Named | string | undefined;

  /** @throws TypeError when `detector` or `upstreamOf` is missing */
  constructor(options: HealthCheckLayerOptions<In>) {
    const { detector, upstreamOf } = options;
    if (typeof detector !== 'object' || typeof detector.slotOf !== 'function') {
      throw new TypeError('HealthCheckLayer: detector must be an OutlierDetector');
    }
    if (typeof upstreamOf !== 'function') {
      throw new TypeError('HealthCheckLayer: upstreamOf must be a function (req, ctx) => name');
    }
    this.detector = detector;
    this.upstreamOf = upstreamOf;
  }

  /** Returns `next` with its outcomes reported. */
  wrap<Req extends In, Res>(next: Handler<Req, Res>): Service<Req, Res> {
    // The detector's live map: adding or removing upstreams later is seen here.
    const finder = new SlotFinder(this.detector.slots);
    const upstreamOf = this.upstreamOf;
    return (req: Req, ctx: CallContext = rootContext): Promise<Res> => {
      let pending: Promise<Res>;
      let upstream: Named | string | undefined;
      try {
        upstream = upstreamOf(req, ctx);
        pending = next(req, ctx);
      } catch (error) {
        pending = Promise.reject(error);
      }
      const slot = finder.find(upstream);
      if (slot === undefined) return pending;
      if (ctx.constructor === PLAIN_CONTEXT && ctx.signal === NEVER_ABORTED) {
        pending.then(slot.onValue, slot.onError);
      } else observeWithSignal(pending, slot, ctx);
      return pending;
    };
  }

  /**
   * Runs one operation as a call to `upstream` and reports its outcome.
   *
   * @example
   * ```ts
   * const rows = await layer.execute('db-primary', ({ signal }) => primary.query({ text: 'SELECT 1', signal }));
   * ```
   */
  execute<Res>(upstream: string, operation: Operation<Res>, signal?: AbortSignal): Promise<Res> {
    const ctx = createContext({ signal });
    let pending: Promise<Res>;
    try {
      pending = operation(ctx);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return this.detector.observe(upstream, pending, ctx.signal);
  }
}

/**
 * The class of core's own contexts (`rootContext` and what its `with…` methods return), whose
 * `signal` is a field set at creation: reading it costs nothing and it never changes.
 */
const PLAIN_CONTEXT: unknown = rootContext.constructor;

/**
 * Records how `pending` ends for `slot`, keeping `ctx` for the error path only. Apart from the
 * layer's function, so that only calls with a context pay for the closure and its scope.
 */
function observeWithSignal(pending: Promise<unknown>, slot: PassiveSlot, ctx: CallContext): void {
  pending.then(slot.onValue, (error: unknown) => {
    // The signal is read only if the call fails: reading it may create it (TimeoutLayer).
    slot.onErrorWithSignal(error, ctx.signal);
  });
}

/** Upstream objects whose state a layer remembers: a pool's worth; more are found by name. */
const REMEMBERED = 8;

/** Finds the passive state of a call's upstream, given as an object or a name. */
class SlotFinder {
  readonly #slots: ReadonlyMap<string, PassiveSlot>;
  readonly #objects: Named[] = [];
  readonly #found: PassiveSlot[] = [];
  /** Where the next object goes once all places are taken. */
  #evict = 0;

  constructor(slots: ReadonlyMap<string, PassiveSlot>) {
    this.#slots = slots;
  }

  find(upstream: Named | string | undefined): PassiveSlot | undefined {
    if (typeof upstream !== 'object') {
      return upstream === undefined ? undefined : this.#slots.get(upstream);
    }
    const objects = this.#objects;
    for (let i = 0; i < objects.length; i++) {
      if (objects[i] === upstream) {
        const slot = this.#found[i];
        // Still watched, and the object still has that name: otherwise look it up again.
        if (slot?.registered === true && slot.name === upstream.name) return slot;
        return this.#remember(upstream, i);
      }
    }
    return this.#remember(upstream, -1);
  }

  /** Looks `upstream` up by name and remembers the answer at `at` (-1: a new place). */
  #remember(upstream: Named, at: number): PassiveSlot | undefined {
    const slot = this.#slots.get(upstream.name);
    if (slot === undefined) return undefined;
    let i = at;
    if (i < 0) {
      if (this.#objects.length < REMEMBERED) i = this.#objects.length;
      else {
        i = this.#evict;
        this.#evict = (i + 1) % REMEMBERED;
      }
    }
    this.#objects[i] = upstream;
    this.#found[i] = slot;
    return slot;
  }
}

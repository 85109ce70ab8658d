/**
 * Why: the breaker users reach for first — around a database driver, an HTTP client, or a layer
 * in a proxy stack. Closed → open after the trip strategy says so; open rejects at once with
 * BrokenCircuitError (no stack capture, no timer); after `resetTimeoutMs` a bounded number of
 * probes run half-open; `successThreshold` good probes close it, any bad one re-opens it.
 */
import {
  type BrokenCircuitError,
  type CallContext,
  type Disposer,
  type Handler,
  LayerBase,
  rootContext,
  type Service,
  toDisposer,
} from '@proxykit/core';
import {
  BreakerEvents,
  type CircuitState,
  type OutcomeEvent,
  type RejectEvent,
  type StateChangeEvent,
} from './breaker-events.js';
import {
  type BreakerSettings,
  type CircuitBreakerOptions,
  resolveBreakerOptions,
} from './breaker-options.js';
import type { BreakerPermit } from './breaker-permit.js';
import { Circuit, type CircuitSnapshot } from './circuit.js';

/** Options of {@link CircuitBreakerLayer}: the shared breaker options plus a warm start. */
export interface CircuitBreakerLayerOptions extends CircuitBreakerOptions {
  /** A snapshot from `toJSON()` (of this or an earlier process) to start from. */
  readonly initialState?: CircuitSnapshot;
}

/**
 * A three-state circuit breaker for any async call.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreakerLayer({ failureThreshold: 5, resetTimeoutMs: 10_000 });
 * const query = breaker.wrap((sql: string) => pool.query(sql));
 * breaker.onStateChange(({ from, to }) => log.warn(`database breaker ${from} → ${to}`));
 * ```
 */
export class CircuitBreakerLayer extends LayerBase {
  /** @internal */
  readonly settings: BreakerSettings;
  /** @internal */
  readonly events: BreakerEvents<undefined> = new BreakerEvents();
  readonly #circuit: Circuit<undefined>;

  /** @throws RangeError or TypeError naming the first invalid option */
  constructor(options: CircuitBreakerLayerOptions = {}) {
    super();
    this.settings = resolveBreakerOptions('CircuitBreakerLayer', options);
    this.#circuit = new Circuit(this, undefined);
    if (options.initialState !== undefined) this.restore(options.initialState);
  }

  /** The current state; an open breaker whose reset timeout has elapsed still reads `open` until a call arrives. */
  get state(): CircuitState {
    return this.#circuit.stateName;
  }

  /** True when a call made now would run (closed, open past its timeout, or half-open with a free probe slot). */
  get isAvailable(): boolean {
    return this.#circuit.isAvailable(this.settings.clock.now());
  }

  /** Milliseconds until the breaker admits a call: 0 when it would now, Infinity while isolated. */
  get retryAfterMs(): number {
    const now = this.settings.clock.now();
    return this.#circuit.isAvailable(now) ? 0 : this.#circuit.retryAfterMs(now);
  }

  /** Returns `next` behind the breaker. */
  wrap<Req, Res>(next: Handler<Req, Res>): Service<Req, Res> {
    const circuit = this.#circuit;
    return (req: Req, ctx: CallContext = rootContext): Promise<Res> => circuit.call(next, req, ctx);
  }

  /**
   * Asks to make one call now, for a caller that awaits the call itself and reports how it ended
   * on the permit (`resolved(value)` or `rejected(error, signal)`), exactly once. Returns
   * `undefined` when the breaker refuses the call (`rejection()` is the error to refuse it with).
   * While closed, every call shares one permit: nothing is allocated and no promise is watched.
   *
   * @example
   * ```ts
   * const permit = breaker.tryAcquire();
   * if (permit === undefined) throw breaker.rejection();
   * try {
   *   const rows = await pool.query(sql);
   *   permit.resolved(rows);
   *   return rows;
   * } catch (error) {
   *   permit.rejected(error);
   *   throw error;
   * }
   * ```
   */
  tryAcquire(): BreakerPermit | undefined {
    return this.#circuit.acquire();
  }

  /**
   * The `BrokenCircuitError` a call refused now gets (`retryAfterMs`, `isolated`): one error per
   * open period, shared, without a stack trace.
   */
  rejection(): BrokenCircuitError {
    return this.#circuit.rejection();
  }

  /**
   * Forces the breaker open (state `isolated`) until the returned disposer runs; calls are
   * rejected with `BrokenCircuitError` (`isolated: true`). Isolations nest: the breaker closes when
   * the last one is released.
   */
  isolate(): Disposer {
    return toDisposer(this.#circuit.isolate());
  }

  /** Closes the breaker at once and forgets recorded failures and isolations. */
  reset(): void {
    this.#circuit.reset();
  }

  /** A snapshot to persist and pass to `restore()` or `initialState` later. */
  toJSON(): CircuitSnapshot {
    return this.#circuit.toJSON(this.settings.clock.now());
  }

  /**
   * Puts the breaker in the state a snapshot describes; an open snapshot keeps only the open time
   * that remains after the wall-clock time since it was taken.
   *
   * @throws TypeError when `snapshot` is not a snapshot
   */
  restore(snapshot: CircuitSnapshot): void {
    this.#circuit.restore(snapshot, this.settings.clock.now(), 'CircuitBreakerLayer');
  }

  /** Subscribes to state transitions. */
  onStateChange(listener: (event: StateChangeEvent) => void): Disposer {
    return this.events.onStateChange.on(listener);
  }

  /** Subscribes to calls counted as failures. */
  onFailure(listener: (event: OutcomeEvent) => void): Disposer {
    return this.events.onFailure.on(listener);
  }

  /** Subscribes to calls counted as successes. */
  onSuccess(listener: (event: OutcomeEvent) => void): Disposer {
    return this.events.onSuccess.on(listener);
  }

  /** Subscribes to calls rejected without being run. */
  onReject(listener: (event: RejectEvent) => void): Disposer {
    return this.events.onReject.on(listener);
  }
}

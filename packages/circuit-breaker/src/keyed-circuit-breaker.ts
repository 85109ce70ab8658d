/**
 * Why: a proxy needs one breaker per upstream, a client one per host or tenant. A map of full
 * breaker objects with a timer each (opossum's shape) grows without bound and costs kilobytes a
 * key; here each key is a small state object with no timer, the key set is capped with exact LRU
 * eviction (core's `KeySlots`: a call for a known key costs one Map look-up and moves no Map
 * entry), and `isAvailable(key)` lets a load balancer skip open upstreams without calling them.
 */
import {
  type BrokenCircuitError,
  type CallContext,
  createContext,
  type Disposer,
  type Handler,
  KeySlots,
  type Layer,
  type Operation,
  requireInteger,
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

/** Options of {@link KeyedCircuitBreaker}: the shared breaker options plus the key cap. */
export interface KeyedCircuitBreakerOptions extends CircuitBreakerOptions {
  /** Most keys tracked at once, an integer >= 1 (default 10 000); the least recently used goes first. */
  readonly maxKeys?: number;
}

/**
 * One circuit breaker per key, sharing options and events.
 *
 * @example
 * ```ts
 * const breakers = new KeyedCircuitBreaker<string>({ failureThreshold: 3, resetTimeoutMs: 5_000 });
 * const healthy = upstreams.filter((u) => breakers.isAvailable(u.name));
 * await breakers.execute('db-primary', () => pool.query('SELECT 1'));
 * ```
 */
export class KeyedCircuitBreaker<K> {
  /** @internal */
  readonly settings: BreakerSettings;
  /** @internal */
  readonly events: BreakerEvents<K> = new BreakerEvents();
  /** The key cap. */
  readonly maxKeys: number;
  readonly #slots: KeySlots<K>;
  /** Each key's breaker, at the key's slot. */
  readonly #circuits: (Circuit<K> | undefined)[] = [];

  /** @throws RangeError or TypeError naming the first invalid option */
  constructor(options: KeyedCircuitBreakerOptions = {}) {
    this.settings = resolveBreakerOptions('KeyedCircuitBreaker', options);
    this.maxKeys = requireInteger('KeyedCircuitBreaker', 'maxKeys', options.maxKeys ?? 10_000, 1);
    this.#slots = new KeySlots<K>(this.maxKeys, () => undefined);
  }

  /** Number of keys tracked. */
  get size(): number {
    return this.#slots.size;
  }

  /** State of `key`'s breaker (`closed` for a key never seen). */
  stateOf(key: K): CircuitState {
    return this.#peek(key)?.stateName ?? 'closed';
  }

  /** True when a call for `key` made now would run. Does not create a breaker for the key. */
  isAvailable(key: K): boolean {
    const circuit = this.#peek(key);
    // A closed breaker admits whatever the time: the clock is read only for the others.
    return circuit === undefined || circuit.hot || circuit.isAvailable(this.settings.clock.now());
  }

  /** Runs one operation through `key`'s breaker. */
  execute<Res>(key: K, operation: Operation<Res>, signal?: AbortSignal): Promise<Res> {
    const ctx = createContext({ signal });
    return this.#circuitFor(key).call(
      (_req: undefined, inner: CallContext) => operation(inner),
      undefined,
      ctx,
    );
  }

  /**
   * Asks `key`'s breaker to make one call now; the caller reports how it ended on the permit,
   * exactly once. `undefined` when the breaker refuses the call (`rejection(key)` is the error).
   * While the key's breaker is closed its calls share one permit: nothing is allocated.
   *
   * @example
   * ```ts
   * const permit = breakers.tryAcquire(upstream.name);
   * if (permit === undefined) return reply(503);
   * const response = await send(upstream).catch((error: unknown) => {
   *   permit.rejected(error, signal);
   *   throw error;
   * });
   * permit.resolved(response); // a 502/503/504 response counts as a failure
   * ```
   */
  tryAcquire(key: K): BreakerPermit | undefined {
    return this.#circuitFor(key).acquire();
  }

  /** The `BrokenCircuitError` a call for `key` refused now gets. */
  rejection(key: K): BrokenCircuitError {
    return this.#circuitFor(key).rejection();
  }

  /**
   * A layer that sends each call through the breaker of the key `keyOf` picks, e.g. the upstream
   * an outer load-balancer layer stored in the context.
   */
  layer<Req = unknown>(keyOf: (req: Req, ctx: CallContext) => K): Layer<Req> {
    return {
      wrap: <R extends Req, Res>(next: Handler<R, Res>): Service<R, Res> => {
        return (req: R, ctx: CallContext = rootContext): Promise<Res> =>
          this.#circuitFor(keyOf(req, ctx)).call(next, req, ctx);
      },
    };
  }

  /** Forces `key`'s breaker open until the returned disposer runs. */
  isolate(key: K): Disposer {
    return toDisposer(this.#circuitFor(key).isolate());
  }

  /** Closes `key`'s breaker and forgets its failures. */
  reset(key: K): void {
    this.#peek(key)?.reset();
  }

  /** Forgets `key` altogether; returns whether it was tracked. */
  delete(key: K): boolean {
    const slot = this.#slots.delete(key);
    if (slot === -1) return false;
    this.#circuits[slot] = undefined;
    return true;
  }

  /** Snapshots of every breaker that is not closed, for a warm start with `restore()`. */
  toJSON(): [K, CircuitSnapshot][] {
    const now = this.settings.clock.now();
    const out: [K, CircuitSnapshot][] = [];
    for (const [key, slot] of this.#slots.entries()) {
      const circuit = this.#circuits[slot];
      if (circuit !== undefined && circuit.stateName !== 'closed') {
        out.push([key, circuit.toJSON(now)]);
      }
    }
    return out;
  }

  /** Restores breakers from `toJSON()` output. @throws TypeError on a malformed entry */
  restore(entries: Iterable<readonly [K, CircuitSnapshot]>): void {
    const now = this.settings.clock.now();
    for (const [key, snapshot] of entries) {
      this.#circuitFor(key).restore(snapshot, now, 'KeyedCircuitBreaker');
    }
  }

  /** Subscribes to state transitions of every key. */
  onStateChange(listener: (event: StateChangeEvent<K>) => void): Disposer {
    return this.events.onStateChange.on(listener);
  }

  /** Subscribes to calls counted as failures, for every key. */
  onFailure(listener: (event: OutcomeEvent<K>) => void): Disposer {
    return this.events.onFailure.on(listener);
  }

  /** Subscribes to calls counted as successes, for every key. */
  onSuccess(listener: (event: OutcomeEvent<K>) => void): Disposer {
    return this.events.onSuccess.on(listener);
  }

  /** Subscribes to calls rejected without being run, for every key. */
  onReject(listener: (event: RejectEvent<K>) => void): Disposer {
    return this.events.onReject.on(listener);
  }

  /** `key`'s breaker, if tracked, without making it the most recently used. */
  #peek(key: K): Circuit<K> | undefined {
    const slot = this.#slots.peek(key);
    return slot === -1 ? undefined : this.#circuits[slot];
  }

  /** `key`'s breaker, made the most recently used; created (evicting the least recent) if new. */
  #circuitFor(key: K): Circuit<K> {
    // A tracked key always has its breaker: insert sets it, delete clears both.
    const known = this.#slots.touch(key);
    if (known !== -1) return this.#circuits[known] as Circuit<K>;
    const circuit = new Circuit(this, key);
    this.#circuits[this.#slots.insert(key)] = circuit;
    return circuit;
  }
}

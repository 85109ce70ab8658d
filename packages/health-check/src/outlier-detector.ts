/**
 * Why: an upstream can answer its health endpoint and still fail real requests. Passive checking
 * watches live outcomes instead — Envoy's outlier detection (`consecutive_gateway_failure`,
 * `base_ejection_time`, `max_ejection_time`, `max_ejection_percent`), the seed's "a 5xx from a
 * request flips the observed health":
 *
 * - `consecutiveFailures` failed calls in a row eject an upstream. A failure is what core's
 *   classifier calls transient, upstream or timeout (connection refused/reset, timeouts, results
 *   with status 502/503/504); any other outcome except the caller's own abort resets the count.
 * - An ejection lasts `baseEjectionMs × n`, where n counts the upstream's recent ejections, at
 *   most `maxEjectionMs`. Each `ejectionDecayMs` the upstream spends back in rotation takes one
 *   off n, so an upstream that failed once last week is not punished for it today (Envoy
 *   decrements the multiplier the same way).
 * - The cap: an ejection that would leave more than `maxEjected` upstreams ejected at once does
 *   not happen (the upstream stays in and is ejected on a later failure if room has come). With N
 *   registered upstreams and p = `maxEjectionPercent`, `maxEjected` is
 *   `min(N - 1, max(1, floor(p × N / 100)))` — at least one upstream can be ejected whatever
 *   the percentage, as in Envoy, but never the last one — except that p = 0 disables ejection
 *   and p = 100 allows ejecting all N.
 * - No timers: an ejection ends when the clock passes its end time, noticed lazily by the next
 *   look at the upstream. Outcomes of calls that end while their upstream is ejected are ignored.
 *
 * When active checks run too (`HealthChecker`), an upstream back from an ejection must also pass
 * an active probe before it takes traffic again; that rule lives in the combining checker.
 */
import {
  type Clock,
  type Disposer,
  defaultClassifier,
  type Emitter,
  isFailure,
  MAX_TIMER_DELAY_MS,
  NEVER_ABORTED,
  type OutcomeClass,
  type OutcomeClassifier,
  requireInteger,
  requireNumber,
  systemClock,
} from '@proxykit/core';
import {
  type EjectionSkippedEvent,
  ejectionSkippedEmitter,
  type HealthChangeEvent,
  healthChangeEmitter,
} from './health-events.js';
import type { Named } from './health-probe.js';

/** Options of {@link OutlierDetector}. */
export interface OutlierDetectorOptions {
  /** Upstreams to watch from the start (names or anything with a `name`). */
  readonly upstreams?: Iterable<Named | string>;
  /** Failed calls in a row that eject an upstream, an integer >= 1 (default 5, Envoy's). */
  readonly consecutiveFailures?: number;
  /** Duration of a first ejection, in ms, in (0, 2147483647] (default 30 000, Envoy's). */
  readonly baseEjectionMs?: number;
  /** Longest ejection, in ms, in [baseEjectionMs, 2147483647] (default: the larger of 300 000 and baseEjectionMs). */
  readonly maxEjectionMs?: number;
  /** Share of the upstreams that may be ejected at once, in percent, in [0, 100] (default 10); see the cap rule. */
  readonly maxEjectionPercent?: number;
  /** Time back in rotation that takes one step off the ejection multiplier, in ms, in (0, 2147483647] (default: baseEjectionMs). */
  readonly ejectionDecayMs?: number;
  /** How errors and results are classified (default: core's `defaultClassifier`). */
  readonly classifier?: OutcomeClassifier;
  /** Which outcome classes count as failures (default: core's `isFailure`: transient, upstream, timeout). */
  readonly isFailure?: (outcome: OutcomeClass) => boolean;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
  /** @internal whether health changes are published on the diagnostics channel (default true) */
  readonly publishHealthChanges?: boolean;
}

/** The passive state of one upstream, from {@link OutlierDetector.statusOf}. */
export interface OutlierStatus {
  /** True while the upstream is ejected. */
  readonly ejected: boolean;
  /** Clock time its current (or last) ejection ends; `undefined` if it was never ejected. */
  readonly ejectedUntil: number | undefined;
  /** The ejection multiplier: recent ejections, after decay. */
  readonly ejections: number;
  /** Failed calls in a row since the last success or ejection. */
  readonly consecutiveFailures: number;
}

/** @internal what a slot needs from its detector */
interface SlotOwner {
  readonly classifier: OutcomeClassifier;
  record(slot: PassiveSlot, outcome: OutcomeClass): void;
}

/**
 * @internal one upstream's passive state, with shared handlers for the outcome of its calls, so
 * that reporting an outcome allocates nothing
 */
export class PassiveSlot {
  consecutiveFailures = 0;
  /** True from an ejection until its end is noticed. */
  ejected = false;
  /** End of the current or last ejection; -Infinity if never ejected. */
  ejectedUntil: number = -Infinity;
  /** The ejection multiplier. */
  ejections = 0;
  /** False once removed: late outcomes are ignored. */
  registered = true;

  /**
   * Records a call's value. A success — every value that is not an object, for the default
   * classifier, without asking it — costs one comparison and, after failures, one write; the
   * clock, the events and the detector are only reached by failures.
   */
  readonly onValue: (value: unknown) => void;

  /** Records a call's error, for a call made without a signal. */
  readonly onError: (error: unknown) => void;

  readonly #classifier: OutcomeClassifier;

  constructor(
    readonly owner: SlotOwner,
    readonly name: string,
  ) {
    const classifier = owner.classifier;
    this.#classifier = classifier;
    this.onValue =
      classifier === defaultClassifier
        ? (value: unknown): void => {
            if (typeof value === 'object' && value !== null) this.#onResult(value);
            else if (this.consecutiveFailures !== 0) this.consecutiveFailures = 0;
          }
        : (value: unknown): void => {
            this.#onResult(value);
          };
    this.onError = (error: unknown): void => {
      owner.record(this, classifier.classifyError(error, NEVER_ABORTED));
    };
  }

  /** Records a call's error, given the call's signal (an abort by the caller is nobody's fault). */
  onErrorWithSignal(error: unknown, signal: AbortSignal): void {
    this.owner.record(this, this.#classifier.classifyError(error, signal));
  }

  #onResult(value: unknown): void {
    const outcome = this.#classifier.classifyResult(value);
    if (outcome !== 'success') this.owner.record(this, outcome);
    else if (this.consecutiveFailures !== 0) this.consecutiveFailures = 0;
  }
}

const OWNER = 'OutlierDetector';

/**
 * Most upstreams of `total` that may be ejected at once for `maxEjectionPercent`:
 * 0 when the percentage is 0, `total` when it is 100, otherwise
 * `min(total - 1, max(1, floor(percent × total / 100)))`.
 */
export function maxEjectedFor(total: number, maxEjectionPercent: number): number {
  if (maxEjectionPercent <= 0 || total <= 0) return 0;
  if (maxEjectionPercent >= 100) return total;
  // The epsilon keeps 10 % of 30 at 3 despite floating-point error.
  const share = Math.floor((maxEjectionPercent * total) / 100 + 1e-9);
  return Math.min(total - 1, Math.max(1, share));
}

/**
 * Passive health checking: ejects upstreams whose live calls keep failing.
 *
 * @example
 * ```ts
 * const outliers = new OutlierDetector({ upstreams: ['a', 'b', 'c'], consecutiveFailures: 5 });
 * const layer = new HealthCheckLayer({ detector: outliers, upstreamOf: (_req, ctx) => ctx.get(UPSTREAM) });
 * const candidates = upstreams.filter(outliers.isAvailable);
 * ```
 */
export class OutlierDetector {
  /** Failed calls in a row that eject an upstream. */
  readonly consecutiveFailures: number;
  /** Duration of a first ejection, in ms. */
  readonly baseEjectionMs: number;
  /** Longest ejection, in ms. */
  readonly maxEjectionMs: number;
  /** Share of the upstreams that may be ejected at once, in percent. */
  readonly maxEjectionPercent: number;
  /** Time back in rotation per step off the ejection multiplier, in ms. */
  readonly ejectionDecayMs: number;
  /** The clock ejections are timed by. */
  readonly clock: Clock;
  readonly #owner: SlotOwner;
  readonly #isFailure: (outcome: OutcomeClass) => boolean;
  readonly #maxMultiplier: number;
  readonly #slots = new Map<string, PassiveSlot>();
  readonly #onHealthChange: Emitter<HealthChangeEvent>;
  readonly #onEjectionSkipped: Emitter<EjectionSkippedEvent> = ejectionSkippedEmitter();

  /** @throws RangeError or TypeError naming the first invalid option */
  constructor(options: OutlierDetectorOptions = {}) {
    this.consecutiveFailures = requireInteger(
      OWNER,
      'consecutiveFailures',
      options.consecutiveFailures ?? 5,
      1,
    );
    this.baseEjectionMs = requireNumber(
      OWNER,
      'baseEjectionMs',
      options.baseEjectionMs ?? 30_000,
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.maxEjectionMs = requireNumber(
      OWNER,
      'maxEjectionMs',
      options.maxEjectionMs ?? Math.max(300_000, this.baseEjectionMs),
      this.baseEjectionMs,
      MAX_TIMER_DELAY_MS,
      true,
    );
    this.maxEjectionPercent = requireNumber(
      OWNER,
      'maxEjectionPercent',
      options.maxEjectionPercent ?? 10,
      0,
      100,
      true,
    );
    this.ejectionDecayMs = requireNumber(
      OWNER,
      'ejectionDecayMs',
      options.ejectionDecayMs ?? this.baseEjectionMs,
      0,
      MAX_TIMER_DELAY_MS,
    );
    const classifier = options.classifier ?? defaultClassifier;
    if (
      typeof classifier.classifyError !== 'function' ||
      typeof classifier.classifyResult !== 'function'
    ) {
      throw new TypeError(
        `${OWNER}: classifier must have classifyError and classifyResult functions`,
      );
    }
    const failure = options.isFailure ?? isFailure;
    if (typeof failure !== 'function')
      throw new TypeError(`${OWNER}: isFailure must be a function`);
    this.#isFailure = failure;
    this.clock = options.clock ?? systemClock;
    this.#maxMultiplier = Math.ceil(this.maxEjectionMs / this.baseEjectionMs);
    this.#onHealthChange = healthChangeEmitter(options.publishHealthChanges !== false);
    this.#owner = {
      classifier,
      record: (slot, outcome) => {
        this.#record(slot, outcome);
      },
    };
    for (const upstream of options.upstreams ?? []) this.add(upstream);
  }

  /** Number of upstreams watched. */
  get size(): number {
    return this.#slots.size;
  }

  /** Names of the upstreams watched. */
  get names(): string[] {
    return [...this.#slots.keys()];
  }

  /** Most upstreams that may be ejected at once, for the current number of upstreams. */
  get maxEjected(): number {
    return maxEjectedFor(this.#slots.size, this.maxEjectionPercent);
  }

  /** Upstreams ejected right now. */
  get ejectedCount(): number {
    const now = this.clock.now();
    let count = 0;
    for (const slot of this.#slots.values()) if (slot.ejected && now < slot.ejectedUntil) count++;
    return count;
  }

  /** Starts watching an upstream (no-op if it is watched already). */
  add(upstream: Named | string): this {
    const name = typeof upstream === 'string' ? upstream : upstream.name;
    if (typeof name !== 'string' || name === '') {
      throw new TypeError(`${OWNER}: an upstream needs a non-empty string name`);
    }
    if (!this.#slots.has(name)) this.#slots.set(name, new PassiveSlot(this.#owner, name));
    return this;
  }

  /** Stops watching an upstream; returns whether it was watched. */
  remove(name: string): boolean {
    const slot = this.#slots.get(name);
    if (slot === undefined) return false;
    slot.registered = false;
    return this.#slots.delete(name);
  }

  /** True when an upstream of that name is watched. */
  has(name: string): boolean {
    return this.#slots.has(name);
  }

  /**
   * False while `upstream` (or the upstream of that name) is ejected; true otherwise, also for
   * names not watched. A bound function, usable as a load balancer's availability hook.
   */
  readonly isAvailable = (upstream: Named | string): boolean => {
    const slot = this.#slots.get(typeof upstream === 'string' ? upstream : upstream.name);
    if (slot === undefined || !slot.ejected) return true;
    if (this.clock.now() < slot.ejectedUntil) return false;
    this.#noticeReturn(slot);
    return true;
  };

  /** True while the upstream is ejected (does not change any state). */
  isEjected(name: string): boolean {
    const slot = this.#slots.get(name);
    return slot !== undefined && slot.ejected && this.clock.now() < slot.ejectedUntil;
  }

  /** The passive state of `name`, or `undefined` when it is not watched. */
  statusOf(name: string): OutlierStatus | undefined {
    const slot = this.#slots.get(name);
    if (slot === undefined) return undefined;
    return {
      ejected: slot.ejected && this.clock.now() < slot.ejectedUntil,
      ejectedUntil: slot.ejectedUntil === -Infinity ? undefined : slot.ejectedUntil,
      ejections: slot.ejections,
      consecutiveFailures: slot.consecutiveFailures,
    };
  }

  /** Records the outcome of one call to `name` (ignored for names not watched). */
  report(name: string, outcome: OutcomeClass): void {
    const slot = this.#slots.get(name);
    if (slot === undefined) return;
    if (outcome !== 'success') this.#record(slot, outcome);
    else if (slot.consecutiveFailures !== 0) slot.consecutiveFailures = 0;
  }

  /**
   * Records how `pending`, a call to `name`, ends, and returns `pending` itself. `signal` is the
   * call's signal: when it aborted, the outcome is the caller's doing and is not counted.
   */
  observe<T>(name: string, pending: Promise<T>, signal?: AbortSignal): Promise<T> {
    const slot = this.#slots.get(name);
    if (slot === undefined) return pending;
    if (signal === undefined || signal === NEVER_ABORTED) pending.then(slot.onValue, slot.onError);
    else {
      pending.then(slot.onValue, (error: unknown) => {
        slot.onErrorWithSignal(error, signal);
      });
    }
    return pending;
  }

  /** Ends `name`'s ejection (if any) and forgets its failures and ejection history. */
  reset(name: string): void {
    const slot = this.#slots.get(name);
    if (slot === undefined) return;
    const wasEjected = slot.ejected && this.clock.now() < slot.ejectedUntil;
    slot.consecutiveFailures = 0;
    slot.ejections = 0;
    slot.ejected = false;
    slot.ejectedUntil = -Infinity;
    if (wasEjected && this.#onHealthChange.wanted) {
      this.#onHealthChange.emit({
        upstream: name,
        from: 'ejected',
        to: 'healthy',
        reason: 'reset',
      });
    }
  }

  /** Subscribes to ejections and returns (`healthy` ⇄ `ejected`); returns the disposer. */
  onHealthChange(listener: (event: HealthChangeEvent) => void): Disposer {
    return this.#onHealthChange.on(listener);
  }

  /** Subscribes to ejections that the cap prevented; returns the disposer. */
  onEjectionSkipped(listener: (event: EjectionSkippedEvent) => void): Disposer {
    return this.#onEjectionSkipped.on(listener);
  }

  /** @internal the slot of `name` */
  slotOf(name: string): PassiveSlot | undefined {
    return this.#slots.get(name);
  }

  /** @internal the live map of slots by name, for the layer's hot path (one look-up per call) */
  get slots(): ReadonlyMap<string, PassiveSlot> {
    return this.#slots;
  }

  #record(slot: PassiveSlot, outcome: OutcomeClass): void {
    if (outcome === 'cancelled' || !slot.registered) return;
    if (!this.#isFailure(outcome)) {
      slot.consecutiveFailures = 0;
      return;
    }
    const now = this.clock.now();
    if (slot.ejected) {
      if (now < slot.ejectedUntil) return; // a call that ended while its upstream was out
      this.#noticeReturn(slot);
    }
    if (++slot.consecutiveFailures < this.consecutiveFailures) return;
    this.#tryEject(slot, now);
  }

  #tryEject(slot: PassiveSlot, now: number): void {
    const maxEjected = this.maxEjected;
    let ejected = 0;
    for (const other of this.#slots.values()) {
      if (other.ejected && now < other.ejectedUntil) ejected++;
    }
    if (ejected >= maxEjected) {
      // Stays in, with its count at the threshold: the next failure tries again.
      if (this.#onEjectionSkipped.wanted) {
        this.#onEjectionSkipped.emit({ upstream: slot.name, ejected, maxEjected });
      }
      return;
    }
    if (slot.ejections > 0) {
      const steps = Math.floor((now - slot.ejectedUntil) / this.ejectionDecayMs);
      slot.ejections = Math.max(0, slot.ejections - steps);
    }
    slot.ejections = Math.min(slot.ejections + 1, this.#maxMultiplier);
    const ejectedForMs = Math.min(this.baseEjectionMs * slot.ejections, this.maxEjectionMs);
    slot.ejected = true;
    slot.ejectedUntil = now + ejectedForMs;
    slot.consecutiveFailures = 0;
    if (this.#onHealthChange.wanted) {
      this.#onHealthChange.emit({
        upstream: slot.name,
        from: 'healthy',
        to: 'ejected',
        reason: 'ejected',
        ejectedForMs,
      });
    }
  }

  #noticeReturn(slot: PassiveSlot): void {
    slot.ejected = false;
    if (this.#onHealthChange.wanted) {
      this.#onHealthChange.emit({
        upstream: slot.name,
        from: 'ejected',
        to: 'healthy',
        reason: 'ejection-ended',
      });
    }
  }
}

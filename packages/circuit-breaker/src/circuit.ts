/**
 * Why: the three-state machine (Hystrix, resilience4j, the seed) without a single timer: the
 * open → half-open transition is computed from the clock when the next call arrives, so an idle
 * breaker costs nothing and ten thousand keyed breakers cost ten thousand small objects.
 *
 * Calls admitted while closed are counted only if the breaker is still closed when they finish;
 * half-open probes carry the generation they were admitted in, so a probe from an earlier
 * half-open period can neither close nor re-open the breaker — but it keeps its probe slot until
 * it settles, so no more than `halfOpenMaxProbes` probes ever run at once.
 */
import {
  BrokenCircuitError,
  type CallContext,
  type Handler,
  NEVER_ABORTED,
  type OutcomeClass,
  rejectSoon,
  rootContext,
} from '@proxykit/core';
import type { BreakerEvents, CircuitState, TransitionReason } from './breaker-events.js';
import type { BreakerSettings } from './breaker-options.js';
import {
  type BreakerPermit,
  CallPermit,
  ClosedPermit,
  type PermitIssuer,
} from './breaker-permit.js';
import type { TripStrategy } from './trip-strategy.js';

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const ISOLATED = 3;
type StateCode = typeof CLOSED | typeof OPEN | typeof HALF_OPEN | typeof ISOLATED;

const STATE_NAMES = [
  'closed',
  'open',
  'half-open',
  'isolated',
] as const satisfies readonly CircuitState[];

/** Admission verdicts of {@link Circuit.admit}. */
const REJECT = -1;
const ADMIT_CLOSED = -2;

/**
 * A serialisable snapshot of a breaker, for warm starts: `toJSON()` writes it, `restore()` reads
 * it. `savedAt` is wall-clock time (ms since the epoch), so the remaining open time carries over
 * between processes.
 */
export interface CircuitSnapshot {
  /** The state when the snapshot was taken. */
  readonly state: CircuitState;
  /** Open time that was left, in ms; present (and required) when `state` is `open`. */
  readonly retryAfterMs?: number;
  /** Wall-clock time the snapshot was taken, in ms since the epoch. */
  readonly savedAt: number;
}

/** @internal what a circuit needs from the layer or keyed breaker that owns it */
export interface CircuitOwner<K> {
  readonly settings: BreakerSettings;
  readonly events: BreakerEvents<K>;
}

/** @internal one breaker's state machine and its call path */
export class Circuit<K> implements PermitIssuer {
  state: StateCode = CLOSED;
  openUntil = 0;
  generation = 0;
  probes = 0;
  probeSuccesses = 0;
  isolations = 0;
  readonly strategy: TripStrategy;
  /** Closed with no stopwatch: calls take the hot path. */
  hot: boolean;
  /** The rejection shared by every call refused in the current period, made on first use. */
  #rejection: BrokenCircuitError | undefined;
  /** The permit shared by every call admitted on the hot path. */
  readonly #closedPermit: ClosedPermit = new ClosedPermit(this);

  constructor(
    readonly owner: CircuitOwner<K>,
    readonly key: K,
  ) {
    this.strategy = owner.settings.strategy();
    this.hot = owner.settings.slowCallThresholdMs === undefined;
  }

  get stateName(): CircuitState {
    return STATE_NAMES[this.state];
  }

  /** Runs `next` if the breaker admits the call; records the outcome; rejects otherwise. */
  call<Req, Res>(next: Handler<Req, Res>, req: Req, ctx: CallContext): Promise<Res> {
    if (!this.hot) return this.#guardedCall(next, req, ctx);
    // Hot path: closed, no stopwatch. The outcome is recorded on a side branch and the caller
    // gets the inner promise itself, so the breaker adds no promise hop.
    let pending: Promise<Res>;
    try {
      pending = next(req, ctx);
    } catch (error) {
      pending = Promise.reject(error);
    }
    if (ctx === rootContext) pending.then(this.onClosedValue, this.onClosedError);
    else {
      pending.then(this.onClosedValue, (error: unknown) => {
        // The signal is read only if the call fails: reading it may create it (TimeoutLayer).
        this.settleError(error, ctx.signal, -1, 0);
      });
    }
    return pending;
  }

  /**
   * A permit for one call the caller makes and reports itself, or `undefined` when the breaker
   * refuses the call now (counted as a rejection, like a refused `call`).
   */
  acquire(): BreakerPermit | undefined {
    if (this.hot) return this.#closedPermit;
    const now = this.owner.settings.clock.now();
    const verdict = this.admit(now);
    if (verdict === REJECT) {
      this.#noteRejection(now);
      return undefined;
    }
    return new CallPermit(this, verdict === ADMIT_CLOSED ? -1 : verdict, now);
  }

  /** Records the value of a call admitted while closed (shared by all such calls). */
  readonly onClosedValue = (value: unknown): void => {
    if (this.state !== CLOSED) return;
    const { settings, events } = this.owner;
    const outcome = settings.classifier.classifyResult(value);
    if (outcome === 'success' && !events.onSuccess.wanted) {
      this.strategy.success(settings.clock);
      return;
    }
    this.#record(outcome, undefined, false, -1, 0);
  };

  /** Records the error of a call admitted while closed without a caller signal. */
  readonly onClosedError = (error: unknown): void => {
    this.settleError(error, NEVER_ABORTED, -1, 0);
  };

  #guardedCall<Req, Res>(next: Handler<Req, Res>, req: Req, ctx: CallContext): Promise<Res> {
    const clock = this.owner.settings.clock;
    const now = clock.now();
    const verdict = this.admit(now);
    if (verdict === REJECT) return this.#reject(now);
    const probeGeneration = verdict; // ADMIT_CLOSED (-2 → treated as "not a probe") or a generation
    const ticket = probeGeneration === ADMIT_CLOSED ? -1 : probeGeneration;
    let pending: Promise<Res>;
    try {
      pending = next(req, ctx);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (value) => {
        this.settleValue(value, ticket, now);
      },
      (error: unknown) => {
        this.settleError(error, ctx.signal, ticket, now);
      },
    );
    return pending;
  }

  #reject(now: number): Promise<never> {
    return rejectSoon(this.#noteRejection(now));
  }

  /** Tells `onReject` listeners of a refused call; returns the error to refuse it with. */
  #noteRejection(now: number): BrokenCircuitError {
    const events = this.owner.events;
    if (events.onReject.wanted) {
      events.onReject.emit({
        key: this.key,
        state: this.stateName,
        retryAfterMs: this.retryAfterMs(now),
      });
    }
    return this.rejection();
  }

  /**
   * The error refused calls get in the current period: one per open period, its `retryAfterMs`
   * computed when read, so rejecting allocates nothing.
   */
  rejection(): BrokenCircuitError {
    const clock = this.owner.settings.clock;
    this.#rejection ??= new BrokenCircuitError(
      () => this.retryAfterMs(clock.now()),
      this.state === ISOLATED,
    );
    return this.#rejection;
  }

  /**
   * Decides whether a call may run now: `REJECT`, `ADMIT_CLOSED`, or (for a half-open probe) the
   * generation the probe belongs to. Moves open → half-open when the reset timeout has elapsed.
   */
  admit(now: number): number {
    switch (this.state) {
      case CLOSED:
        return ADMIT_CLOSED;
      case ISOLATED:
        return REJECT;
      case OPEN:
        if (now < this.openUntil) return REJECT;
        // The first call after the reset timeout is the first probe.
        this.#transition(HALF_OPEN, 'reset-timeout-elapsed');
        return this.#admitProbe();
      case HALF_OPEN:
        return this.#admitProbe();
    }
  }

  #admitProbe(): number {
    if (this.probes >= this.owner.settings.halfOpenMaxProbes) return REJECT;
    this.probes++;
    return this.generation;
  }

  /** True when a call arriving at `now` would be admitted (does not change state). */
  isAvailable(now: number): boolean {
    switch (this.state) {
      case CLOSED:
        return true;
      case ISOLATED:
        return false;
      case OPEN:
        return now >= this.openUntil;
      case HALF_OPEN:
        return this.probes < this.owner.settings.halfOpenMaxProbes;
    }
  }

  /** Time until a call would be admitted: Infinity while isolated, 0 when half-open. */
  retryAfterMs(now: number): number {
    if (this.state === ISOLATED) return Infinity;
    if (this.state === OPEN) return Math.max(0, this.openUntil - now);
    return 0;
  }

  settleValue(value: unknown, ticket: number, startedAt: number): void {
    const outcome = this.owner.settings.classifier.classifyResult(value);
    this.#record(outcome, undefined, false, ticket, startedAt);
  }

  settleError(error: unknown, signal: AbortSignal, ticket: number, startedAt: number): void {
    const outcome = this.owner.settings.classifier.classifyError(error, signal);
    this.#record(outcome, error, true, ticket, startedAt);
  }

  /** `ticket` is -1 for a call admitted while closed, else the probe's generation. */
  #record(
    outcome: OutcomeClass,
    error: unknown,
    threw: boolean,
    ticket: number,
    startedAt: number,
  ): void {
    const settings = this.owner.settings;
    const isProbe = ticket !== -1;
    // Probes in flight are counted across periods, so that a probe still running from an earlier
    // half-open period keeps its slot: never more than halfOpenMaxProbes probes at once.
    if (isProbe) this.probes--;
    if (isProbe ? ticket !== this.generation || this.state !== HALF_OPEN : this.state !== CLOSED) {
      return; // admitted in an earlier period: its outcome no longer says anything
    }
    if (outcome === 'cancelled') return; // the caller gave up: nobody's fault
    let failed = settings.isFailure(outcome);
    let slow = false;
    if (!failed && settings.slowCallThresholdMs !== undefined) {
      slow = settings.clock.now() - startedAt > settings.slowCallThresholdMs;
      failed = slow;
    }
    const events = this.owner.events;
    if (failed) {
      if (events.onFailure.wanted) {
        events.onFailure.emit(
          threw
            ? { key: this.key, outcome, slow, error, probe: isProbe }
            : { key: this.key, outcome, slow, probe: isProbe },
        );
      }
      if (isProbe) this.#open('probe-failed');
      else if (this.strategy.failure(settings.clock)) this.#open('tripped');
    } else {
      if (events.onSuccess.wanted) {
        events.onSuccess.emit({ key: this.key, outcome, slow, probe: isProbe });
      }
      if (!isProbe) this.strategy.success(settings.clock);
      else if (++this.probeSuccesses >= settings.successThreshold) this.#close('probes-succeeded');
    }
  }

  #open(reason: TransitionReason): void {
    this.openUntil = this.owner.settings.clock.now() + this.owner.settings.resetTimeoutMs;
    this.#transition(OPEN, reason);
  }

  #close(reason: TransitionReason): void {
    this.strategy.reset();
    this.#transition(CLOSED, reason);
  }

  #transition(to: StateCode, reason: TransitionReason): void {
    const from = this.state;
    this.state = to;
    this.hot = to === CLOSED && this.owner.settings.slowCallThresholdMs === undefined;
    this.#rejection = undefined;
    this.generation++;
    this.probeSuccesses = 0;
    const events = this.owner.events;
    if (events.onStateChange.wanted) {
      events.onStateChange.emit({
        key: this.key,
        from: STATE_NAMES[from],
        to: STATE_NAMES[to],
        reason,
      });
    }
  }

  /** Forces the breaker open until every isolation is released; returns the release function. */
  isolate(): () => void {
    this.isolations++;
    if (this.state !== ISOLATED) this.#transition(ISOLATED, 'isolated');
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.isolations--;
      if (this.isolations === 0 && this.state === ISOLATED) this.#close('released');
    };
  }

  /** Closes the breaker and forgets failures and isolations. */
  reset(): void {
    this.isolations = 0;
    if (this.state === CLOSED) this.strategy.reset();
    else this.#close('reset');
  }

  toJSON(now: number): CircuitSnapshot {
    const savedAt = Date.now();
    const state = this.stateName;
    if (state === 'open') return { state, retryAfterMs: this.retryAfterMs(now), savedAt };
    return { state, savedAt };
  }

  restore(snapshot: CircuitSnapshot, now: number, owner: string): void {
    const parsed = parseSnapshot(snapshot, owner);
    this.isolations = 0;
    this.strategy.reset();
    switch (parsed.state) {
      case 'closed':
        if (this.state !== CLOSED) this.#transition(CLOSED, 'restored');
        return;
      case 'isolated':
        this.isolations = 1;
        if (this.state !== ISOLATED) this.#transition(ISOLATED, 'restored');
        return;
      case 'half-open':
        // A half-open breaker restores as open with no time left: the next call is a probe.
        this.openUntil = now;
        this.#transition(OPEN, 'restored');
        return;
      case 'open': {
        const elapsed = Math.max(0, Date.now() - parsed.savedAt);
        this.openUntil = now + Math.max(0, (parsed.retryAfterMs ?? 0) - elapsed);
        this.#transition(OPEN, 'restored');
      }
    }
  }
}

function parseSnapshot(value: unknown, owner: string): CircuitSnapshot {
  const bad = (what: string): never => {
    throw new TypeError(`${owner}.restore: ${what}`);
  };
  if (typeof value !== 'object' || value === null)
    return bad('snapshot must be an object from toJSON()');
  const { state, savedAt, retryAfterMs } = value as Record<string, unknown>;
  if (typeof state !== 'string' || !(STATE_NAMES as readonly string[]).includes(state)) {
    return bad(`state must be one of ${STATE_NAMES.join(', ')}, got ${JSON.stringify(state)}`);
  }
  if (typeof savedAt !== 'number' || !Number.isFinite(savedAt)) {
    return bad(`savedAt must be a finite number (ms since the epoch), got ${String(savedAt)}`);
  }
  if (state === 'open') {
    if (typeof retryAfterMs !== 'number' || Number.isNaN(retryAfterMs) || retryAfterMs < 0) {
      return bad(
        `retryAfterMs must be a number >= 0 for an open snapshot, got ${String(retryAfterMs)}`,
      );
    }
    return { state, retryAfterMs, savedAt };
  }
  return { state: state as CircuitState, savedAt };
}

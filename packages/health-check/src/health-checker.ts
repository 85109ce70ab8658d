/**
 * Why: a proxy wants one answer to "may this upstream take traffic?", from both active probes
 * and passive outlier detection, as Envoy combines its health checker and outlier detector per
 * host. HealthChecker owns an ActiveHealthChecker and an OutlierDetector (either may be left
 * out), keeps one combined state per upstream and adds the rule that joins them: an upstream
 * back from an ejection must pass an active probe that started after the ejection ended before
 * it takes traffic again — the probe is brought forward to the moment the ejection ends, so the
 * return is prompt. (Passive-only, it returns when the ejection time is over.)
 *
 * Combined state, in order: `unhealthy` if active checks say so; else `ejected` while ejected or
 * waiting for that return probe; else `healthy`. `isAvailable` is true only for `healthy`, and
 * costs one map look-up for a healthy upstream.
 */
import {
  type CallContext,
  type Clock,
  type Disposer,
  type OutcomeClass,
  systemClock,
} from '@proxykit/core';
import {
  ActiveHealthChecker,
  type ActiveHealthCheckerOptions,
  type MonitoredUpstream,
} from './active-health-checker.js';
import { HealthCheckLayer } from './health-check-layer.js';
import {
  type HealthChangeEvent,
  healthChangeEmitter,
  type HealthChangeReason,
  type HealthState,
} from './health-events.js';
import type { HealthTarget, Named } from './health-probe.js';
import type { HealthStatus } from './health-status.js';
import {
  OutlierDetector,
  type OutlierDetectorOptions,
  type OutlierStatus,
  type PassiveSlot,
} from './outlier-detector.js';

/** Options of {@link HealthChecker}: give `active`, `passive`, or both. */
export interface HealthCheckerOptions {
  /** Upstreams to check from the start; more can be added with `add()`. */
  readonly targets?: Iterable<HealthTarget>;
  /** Active checks (a `probe` is required); left out, there are none. */
  readonly active?: Omit<ActiveHealthCheckerOptions, 'targets' | 'clock' | 'publishHealthChanges'>;
  /** Passive outlier detection (`{}` for the defaults); left out, there is none. */
  readonly passive?: Omit<OutlierDetectorOptions, 'upstreams' | 'clock' | 'publishHealthChanges'>;
  /** Time source for both; defaults to the system clock. */
  readonly clock?: Clock;
}

/** The combined health of one upstream, from {@link HealthChecker.statusOf}. */
export interface UpstreamHealth {
  /** Name of the upstream. */
  readonly upstream: string;
  /** The combined state. */
  readonly state: HealthState;
  /** True when the upstream may take traffic (`state` is `healthy`). */
  readonly available: boolean;
  /** True when it is back from an ejection and waits for an active probe to pass. */
  readonly awaitingProbe: boolean;
  /** Active-check status; `undefined` without active checks. */
  readonly active: HealthStatus | undefined;
  /** Passive state; `undefined` without passive checks. */
  readonly passive: OutlierStatus | undefined;
}

/** @internal one upstream's parts in both checkers and its last reported state */
interface Member {
  target: HealthTarget;
  entry: MonitoredUpstream | undefined;
  slot: PassiveSlot | undefined;
  state: HealthState;
}

const OWNER = 'HealthChecker';

/**
 * Active and passive health checking combined, with one availability hook for load balancers.
 *
 * @example
 * ```ts
 * await using health = new HealthChecker({
 *   targets: upstreams,
 *   active: { probe: new HttpProbe({ path: '/healthz' }), intervalMs: 5_000 },
 *   passive: { consecutiveFailures: 5, maxEjectionPercent: 50 },
 * }).start();
 * const send = stack(balancer, health.layer((_req, ctx) => ctx.get(UPSTREAM))).wrap(call);
 * // the balancer's hook: isAvailable: health.isAvailable
 * ```
 */
export class HealthChecker implements Disposable, AsyncDisposable {
  /** The active checker, if active checks are on. */
  readonly active: ActiveHealthChecker | undefined;
  /** The outlier detector, if passive checks are on. */
  readonly passive: OutlierDetector | undefined;
  /** The clock both run on. */
  readonly clock: Clock;
  readonly #members = new Map<string, Member>();
  readonly #onHealthChange = healthChangeEmitter(true);

  /** @throws RangeError or TypeError naming the first invalid option */
  constructor(options: HealthCheckerOptions) {
    if (options.active === undefined && options.passive === undefined) {
      throw new TypeError(`${OWNER}: give active, passive or both`);
    }
    this.clock = options.clock ?? systemClock;
    const clock = this.clock;
    const active =
      options.active === undefined
        ? undefined
        : new ActiveHealthChecker({ ...options.active, clock, publishHealthChanges: false });
    const passive =
      options.passive === undefined
        ? undefined
        : new OutlierDetector({ ...options.passive, clock, publishHealthChanges: false });
    this.active = active;
    this.passive = passive;
    active?.onHealthChange((event) => {
      this.#update(event.upstream, event.reason, event.error);
    });
    active?.onProbe((event) => {
      // Any change a successful probe makes here, after the threshold events, is a return.
      if (event.ok) this.#update(event.upstream, 'return-probe-succeeded');
    });
    passive?.onHealthChange((event) => {
      if (event.reason === 'ejected' && event.ejectedForMs !== undefined) {
        active?.scheduleProbe(event.upstream, event.ejectedForMs);
      }
      this.#update(event.upstream, event.reason, undefined, event.ejectedForMs);
    });
    for (const target of options.targets ?? []) this.add(target);
  }

  /** Number of upstreams registered. */
  get size(): number {
    return this.#members.size;
  }

  /** The registered upstreams. */
  get targets(): HealthTarget[] {
    return [...this.#members.values()].map((m) => m.target);
  }

  /** Registers an upstream with both checkers (or updates it). @throws TypeError on a bad target */
  add(target: HealthTarget): this {
    this.active?.add(target);
    this.passive?.add(target);
    const name = target.name;
    const existing = this.#members.get(name);
    const member: Member = existing ?? {
      target,
      entry: undefined,
      slot: undefined,
      state: 'healthy',
    };
    member.target = target;
    member.entry = this.active?.entryOf(name);
    member.slot = this.passive?.slotOf(name);
    member.state = this.#compute(member);
    this.#members.set(name, member);
    return this;
  }

  /** Forgets an upstream in both checkers; returns whether it was registered. */
  remove(name: string): boolean {
    this.active?.remove(name);
    this.passive?.remove(name);
    return this.#members.delete(name);
  }

  /** True when an upstream of that name is registered. */
  has(name: string): boolean {
    return this.#members.has(name);
  }

  /**
   * True when `upstream` (or the upstream of that name) may take traffic: not unhealthy, not
   * ejected, not waiting for its return probe. True for names not registered. A bound function,
   * so `upstreams.filter(health.isAvailable)` and a balancer's `isAvailable: health.isAvailable`
   * work as they are.
   */
  readonly isAvailable = (upstream: Named | string): boolean => {
    const name = typeof upstream === 'string' ? upstream : upstream.name;
    const member = this.#members.get(name);
    if (member === undefined || member.state === 'healthy') return true;
    return this.#recheck(name, member) === 'healthy';
  };

  /** The combined state of `name` now, or `undefined` when it is not registered. */
  stateOf(name: string): HealthState | undefined {
    const member = this.#members.get(name);
    return member === undefined ? undefined : this.#recheck(name, member);
  }

  /** The full health of `name` (combined, active and passive), or `undefined`. */
  statusOf(name: string): UpstreamHealth | undefined {
    const member = this.#members.get(name);
    if (member === undefined) return undefined;
    const state = this.#recheck(name, member);
    return {
      upstream: name,
      state,
      available: state === 'healthy',
      awaitingProbe: this.#awaitingProbe(member),
      active: member.entry?.status,
      passive: this.passive?.statusOf(name),
    };
  }

  /** The health of every registered upstream, e.g. for a `/healthz?check=upstream` endpoint. */
  statuses(): UpstreamHealth[] {
    const out: UpstreamHealth[] = [];
    for (const name of this.#members.keys()) {
      const status = this.statusOf(name);
      if (status !== undefined) out.push(status);
    }
    return out;
  }

  /** Records the outcome of one live call to `name` (passive checks; ignored without them). */
  report(name: string, outcome: OutcomeClass): void {
    this.passive?.report(name, outcome);
  }

  /**
   * A layer that reports each call's outcome for the upstream `upstreamOf` returns (the object
   * the balancer put in the context, or its name).
   *
   * @throws TypeError when passive checks are off
   */
  layer<Req = unknown>(
    upstreamOf: (req: Req, ctx: CallContext) => Named | string | undefined,
  ): HealthCheckLayer<Req> {
    if (this.passive === undefined) {
      throw new TypeError(`${OWNER}: layer() needs passive checks (the passive option)`);
    }
    return new HealthCheckLayer({ detector: this.passive, upstreamOf });
  }

  /** Starts active checks (no-op without them); returns this checker. */
  start(): this {
    this.active?.start();
    return this;
  }

  /** Stops active checks, aborting probes in flight. */
  stop(): void {
    this.active?.stop();
  }

  /**
   * Subscribes to changes of the combined state; returns the disposer. The same events are
   * published on `proxykit:health-check:health-change`.
   */
  onHealthChange(listener: (event: HealthChangeEvent) => void): Disposer {
    return this.#onHealthChange.on(listener);
  }

  /** Stops active checks for good: no timer, no probe in flight. */
  [Symbol.dispose](): void {
    this.active?.[Symbol.dispose]();
  }

  /** Stops active checks for good and waits for probes in flight to settle. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.active?.[Symbol.asyncDispose]();
  }

  #awaitingProbe(member: Member): boolean {
    const { entry, slot } = member;
    return (
      entry !== undefined &&
      slot !== undefined &&
      slot.ejectedUntil !== -Infinity &&
      this.clock.now() >= slot.ejectedUntil &&
      entry.lastSuccessStartedAt < slot.ejectedUntil
    );
  }

  #compute(member: Member): HealthState {
    const { entry, slot } = member;
    if (entry !== undefined && !entry.status.healthy) return 'unhealthy';
    if (slot !== undefined && slot.ejectedUntil !== -Infinity) {
      if (slot.ejected && this.clock.now() < slot.ejectedUntil) return 'ejected';
      if (entry !== undefined && entry.lastSuccessStartedAt < slot.ejectedUntil) return 'ejected';
    }
    return 'healthy';
  }

  /** The state now; notices an ejection that has ended, and reports any change. */
  #recheck(name: string, member: Member): HealthState {
    // Lets the detector notice an ended ejection (its event updates this member).
    if (member.slot?.ejected === true) this.passive?.isAvailable(name);
    this.#update(name, 'ejection-ended');
    return member.state;
  }

  #update(name: string, reason: HealthChangeReason, error?: unknown, ejectedForMs?: number): void {
    const member = this.#members.get(name);
    if (member === undefined) return;
    const to = this.#compute(member);
    const from = member.state;
    if (to === from) return;
    member.state = to;
    if (!this.#onHealthChange.wanted) return;
    const event: { -readonly [K in keyof HealthChangeEvent]: HealthChangeEvent[K] } = {
      upstream: name,
      from,
      to,
      reason,
    };
    if (error !== undefined) event.error = error;
    if (ejectedForMs !== undefined) event.ejectedForMs = ejectedForMs;
    this.#onHealthChange.emit(event);
  }
}

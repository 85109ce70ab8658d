/**
 * Why: every balancing policy, the health checker and the upstream pool talk about the same thing
 * — one upstream plus what the balancer knows about it right now: its configured weight, the calls
 * in flight to it, whether it is healthy and available, its slow-start ramp and its latency
 * estimate. This is the seed's `UpstreamEntry` (upstream, health, in_flight), extended with what
 * Envoy keeps per host for slow start and tower per endpoint for PeakEwma.
 *
 * The upstream itself is structural: the balancer needs only a unique `name` and an optional
 * `weight`, so `@proxykit/upstream-pool`'s `Upstream` fits without this package depending on it.
 */
import type { AvailabilityCheck } from './availability.js';

const NO_CHECKS: readonly never[] = Object.freeze([]);

/**
 * The least an upstream must have for a load balancer: a unique `name` and an optional `weight`
 * (default 1). `@proxykit/upstream-pool`'s `Upstream` (scheme, host, port, name, weight) satisfies
 * it, as does any object of yours with a `name`; the balancer never reads anything else and hands
 * your object back from `pick()` unchanged.
 */
export interface UpstreamLike {
  /** Identifies the upstream among its balancer's upstreams; also the key availability sources see. */
  readonly name: string;
  /** Relative share of traffic, a number in (0, 1e6]; 1 when absent. */
  readonly weight?: number;
}

/** @internal what an entry asks the balancer that owns it */
export interface EntryOwner {
  readonly clockNow: () => number;
  isUsable(entry: UpstreamEntry): boolean;
  weightOf(entry: UpstreamEntry, now: number): number;
  latencyOf(entry: UpstreamEntry, now: number): number | undefined;
}

/** A plain snapshot of an {@link UpstreamEntry}, e.g. for an admin endpoint or a log line. */
export interface UpstreamEntrySnapshot {
  /** The upstream's name. */
  readonly name: string;
  /** Configured weight. */
  readonly weight: number;
  /** Weight in use now: lower than `weight` while slow start ramps it up. */
  readonly effectiveWeight: number;
  /** Calls in flight. */
  readonly inFlight: number;
  /** Health as last reported with `setHealthy` (true until told otherwise). */
  readonly healthy: boolean;
  /** Healthy and passing every availability check now. */
  readonly available: boolean;
  /** The latency estimate in ms, for policies that keep one (PeakEwma). */
  readonly latencyMs?: number;
}

/**
 * One upstream as its load balancer sees it. Entries are created by the balancer (`add`, the
 * `upstreams` option) and stay the same object for as long as the upstream is a member, across
 * weight and health changes, so in-flight counts and latency estimates survive them. The getters
 * are live views; the balancer alone changes the state behind them.
 */
export class UpstreamEntry<U extends UpstreamLike = UpstreamLike> {
  /** The upstream's name (its `upstream.name`). */
  readonly name: string;
  /** @internal */
  _upstream: U;
  /** @internal configured weight */
  _weight: number;
  /** @internal */
  _inFlight = 0;
  /** @internal health as reported with setHealthy */
  _healthy = true;
  /** @internal true while slow start ramps the weight */
  _ramping = false;
  /** @internal clock time the ramp began */
  _rampFrom = 0;
  /** @internal latency estimate (ms) as of `_ewmaAt`; negative until the first sample */
  _ewma = -1;
  /** @internal */
  _ewmaAt = 0;
  /** @internal sum of the start times of the calls in flight (latency-aware policies only) */
  _startSum = 0;
  /**
   * @internal the balancer's availability checks, kept here so a pick reads one object shape
   * (typed for `never` so that the entry type stays covariant in `U`)
   */
  _checks: readonly AvailabilityCheck<never>[] = NO_CHECKS;
  /** @internal smooth weighted round robin's current weight */
  _current = 0;
  /** @internal the balancer, or undefined once removed */
  _owner: EntryOwner | undefined;

  /** @internal entries are created by their balancer */
  constructor(upstream: U, weight: number, owner: EntryOwner) {
    this.name = upstream.name;
    this._upstream = upstream;
    this._weight = weight;
    this._owner = owner;
  }

  /** The upstream object, as given to the balancer. */
  get upstream(): U {
    return this._upstream;
  }

  /** Configured weight. */
  get weight(): number {
    return this._weight;
  }

  /** Calls picked for this upstream that have not settled yet. */
  get inFlight(): number {
    return this._inFlight;
  }

  /** Health as last reported with `setHealthy` (true until told otherwise). */
  get healthy(): boolean {
    return this._healthy;
  }

  /** True while the entry belongs to a balancer (false once removed). */
  get member(): boolean {
    return this._owner !== undefined;
  }

  /** Healthy and passing every availability check of its balancer now; false once removed. */
  get available(): boolean {
    return this._owner?.isUsable(this) ?? false;
  }

  /** The weight in use now: lower than `weight` while slow start ramps it up. */
  get effectiveWeight(): number {
    const owner = this._owner;
    return owner === undefined ? this._weight : owner.weightOf(this, owner.clockNow());
  }

  /** The latency estimate in ms now, for policies that keep one (PeakEwma); otherwise undefined. */
  get latencyMs(): number | undefined {
    const owner = this._owner;
    return owner?.latencyOf(this, owner.clockNow());
  }

  /** A plain snapshot of the entry's state now. */
  toJSON(): UpstreamEntrySnapshot {
    const latencyMs = this.latencyMs;
    const base = {
      name: this.name,
      weight: this._weight,
      effectiveWeight: this.effectiveWeight,
      inFlight: this._inFlight,
      healthy: this._healthy,
      available: this.available,
    };
    return latencyMs === undefined ? base : { ...base, latencyMs };
  }
}

/**
 * Why: every policy (round robin, least-conn, P2C, Maglev …) needs the same machinery around its
 * choice: a membership that changes at run time without losing in-flight counts, availability
 * filtering by health and by pluggable checks (a circuit breaker, a health checker), Envoy's panic
 * mode, Envoy/HAProxy slow start, and events. This file holds the `LoadBalancer` contract and that
 * machinery once; a policy only implements `select`, and `rebuild` when it derives state (a
 * Maglev table, a ring) from the membership.
 *
 * Hot path: `pick()` allocates nothing. Entries live in one array; unavailable entries are
 * skipped while scanning or re-sampled, never filtered out into a new array; derived state is
 * rebuilt lazily, once, on the first pick after any number of membership changes.
 */
import { type Clock, type Disposer, requireNumber, systemClock } from '@proxykit/core';
import {
  type AvailabilityCheck,
  type AvailabilityHook,
  toAvailabilityCheck,
} from './availability.js';
import {
  BalancerEvents,
  type ChangeEvent,
  type ChangeType,
  type NoUpstreamEvent,
  type PanicEvent,
  type PanicReason,
} from './balancer-events.js';
import type { RandomSource } from './random-source.js';
import {
  resolveSlowStart,
  type SlowStartOptions,
  type SlowStartSettings,
  slowStartFactor,
} from './slow-start.js';
import { UpstreamEntry, type UpstreamLike } from './upstream-entry.js';

/** The largest weight an upstream may have. */
const MAX_WEIGHT = 1_000_000;

/**
 * A load-balancing policy over a changing set of upstreams. `pick` chooses an available upstream
 * or returns `undefined` when none is (a `LoadBalancerLayer` turns that into
 * `NoHealthyUpstreamError`). Code that calls upstreams itself (not through the layer) reports each
 * call with `begin` and `end`, so in-flight counts and latencies stay right.
 *
 * @typeParam U the upstream type (anything with a `name`)
 * @typeParam Req what `pick` receives: the request, for policies that hash a key from it
 */
export interface LoadBalancer<U extends UpstreamLike = UpstreamLike, Req = unknown> {
  /** Number of upstreams. */
  readonly size: number;
  /** True when the policy uses latencies (then `begin` reads the clock). */
  readonly tracksLatency: boolean;
  /** Chooses an available upstream for `request`, or returns `undefined` when none is available. */
  pick(request?: Req): U | undefined;
  /** Like `pick`, but returns the upstream's entry (for `begin`/`end` and the live counters). */
  pickEntry(request?: Req): UpstreamEntry<U> | undefined;
  /** Records that a call to `entry` started; returns the start time to pass to `end`. */
  begin(entry: UpstreamEntry<U>): number;
  /** Records that a call started with `begin` settled (successfully or not). */
  end(entry: UpstreamEntry<U>, startedAt: number): void;
  /** Adds `upstream` (or updates the member of that name); `weight` overrides `upstream.weight`. */
  add(upstream: U, weight?: number): UpstreamEntry<U>;
  /** Removes the upstream named `name`; returns whether it was a member. */
  remove(name: string): boolean;
  /** Changes the weight of the upstream named `name`; returns whether it is a member. */
  setWeight(name: string, weight: number): boolean;
  /** Marks the upstream named `name` healthy or not; returns whether it is a member. */
  setHealthy(name: string, healthy: boolean): boolean;
  /** The entry of the upstream named `name`, if it is a member. */
  get(name: string): UpstreamEntry<U> | undefined;
  /** The entries, in the order they were added (a copy). */
  entries(): UpstreamEntry<U>[];
}

/** Options every policy accepts. */
export interface LoadBalancerOptions<U extends UpstreamLike = UpstreamLike> {
  /** The initial upstreams (names must be unique). They do not go through slow start. */
  readonly upstreams?: Iterable<U>;
  /**
   * Checks an upstream must pass to be picked, besides being healthy: functions of the upstream
   * or objects with `isAvailable(name)`, such as a `KeyedCircuitBreaker<string>` keyed by upstream
   * name. Asked on every pick for the upstreams considered; keep them cheap.
   */
  readonly availability?: readonly AvailabilityHook<U>[];
  /**
   * Panic mode (Envoy's `healthy_panic_threshold`), a percentage in [0, 100]; off when absent.
   * When set, a pick ignores health and availability checks — spreading over every upstream
   * rather than failing or overloading the few left — if fewer than this percentage of the
   * upstreams are marked healthy, or if no upstream passes the checks at all (so `0` means
   * "only when nothing is available").
   */
  readonly panicThreshold?: number;
  /**
   * Ramp the weight of an upstream added after construction, or marked healthy again, over a
   * window (Envoy/HAProxy slow start). Weight-based policies only: round robin, random,
   * least-conn, P2C and PeakEwma.
   */
  readonly slowStart?: SlowStartOptions;
  /** Random source in [0, 1) for randomised policies (default `Math.random`). */
  readonly random?: RandomSource;
  /** Time source for slow start and latency (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * The state every pick reads, in one object whose shape is the same whatever the policy: a process
 * that uses several policies then still reads it through monomorphic property accesses, where
 * fields spread over the subclasses' instances would make the shared pick path megamorphic.
 */
class HotState<U extends UpstreamLike> {
  dirty = true;
  ramping = 0;
  healthy = 0;
  /** Typed for `never` so that balancers stay covariant in `U`. */
  checks: readonly AvailabilityCheck<never>[] = [];

  constructor(
    readonly list: UpstreamEntry<U>[],
    readonly clock: Clock,
    readonly tracksLatency: boolean,
    readonly panicThreshold: number | undefined,
  ) {}
}

/**
 * The machinery shared by every policy: membership, availability, panic mode, slow start,
 * in-flight accounting and events. Extend it to write a policy: implement {@link select} (and
 * {@link rebuild} if the policy derives state from the membership).
 *
 * @typeParam U the upstream type
 * @typeParam Req what `pick` receives
 */
export abstract class LoadBalancerBase<
  U extends UpstreamLike = UpstreamLike,
  Req = unknown,
> implements LoadBalancer<U, Req> {
  /** The time source. */
  readonly clock: Clock;
  /** Panic threshold in percent, or undefined when panic mode is off. */
  readonly panicThreshold: number | undefined;
  /** True when the policy uses latencies (then `begin` reads the clock). */
  readonly tracksLatency: boolean;
  /** @internal */
  readonly events: BalancerEvents = new BalancerEvents();
  /** @internal */
  readonly clockNow: () => number;
  /**
   * The members, in the order they were added. The array object never changes (it is updated in
   * place), so a policy may keep a reference; read it, never write it.
   */
  protected readonly list: UpstreamEntry<U>[] = [];
  /** The random source, for policies that draw. */
  protected readonly random: RandomSource;
  readonly #owner: string;
  readonly #byName = new Map<string, UpstreamEntry<U>>();
  /** Removed entries with calls still in flight, revived if the same name comes back. */
  readonly #departed = new Map<string, UpstreamEntry<U>>();
  readonly #slowStart: SlowStartSettings | undefined;
  readonly #hot: HotState<U>;

  /**
   * @param owner the policy's name, for error messages
   * @param options the shared options
   * @param tracksLatency whether the policy needs latencies measured
   * @throws RangeError naming the first invalid option or weight
   */
  protected constructor(owner: string, options: LoadBalancerOptions<U>, tracksLatency = false) {
    this.#owner = owner;
    this.clock = options.clock ?? systemClock;
    const clock = this.clock;
    this.clockNow = () => clock.now();
    this.random = options.random ?? Math.random;
    this.tracksLatency = tracksLatency;
    this.panicThreshold =
      options.panicThreshold === undefined
        ? undefined
        : requireNumber(owner, 'panicThreshold', options.panicThreshold, 0, 100, true);
    this.#slowStart = resolveSlowStart(owner, options.slowStart);
    this.#hot = new HotState(this.list, this.clock, tracksLatency, this.panicThreshold);
    this.#hot.checks = Object.freeze((options.availability ?? []).map(toAvailabilityCheck));
    for (const upstream of options.upstreams ?? []) {
      if (this.#byName.has(this.#nameOf(upstream))) {
        throw new RangeError(
          `${owner}: upstream names must be unique, got "${upstream.name}" twice`,
        );
      }
      this.#insert(upstream, undefined, false);
    }
  }

  /** Number of upstreams. */
  get size(): number {
    return this.list.length;
  }

  /** Number of upstreams marked healthy (see {@link setHealthy}). */
  get healthyCount(): number {
    return this.#hot.healthy;
  }

  /** Chooses an available upstream for `request`, or returns `undefined` when none is available. */
  pick(request?: Req): U | undefined {
    return this.pickEntry(request)?._upstream;
  }

  /** Like {@link pick}, but returns the upstream's entry. */
  pickEntry(request?: Req): UpstreamEntry<U> | undefined {
    const hot = this.#hot;
    const total = hot.list.length;
    if (total === 0) {
      this.#none(0);
      return undefined;
    }
    if (hot.dirty) {
      hot.dirty = false;
      this.rebuild();
    }
    const now = hot.ramping > 0 || hot.tracksLatency ? hot.clock.now() : 0;
    const threshold = hot.panicThreshold;
    if (threshold !== undefined && hot.healthy * 100 < threshold * total) {
      return this.#panic(request, now, 'threshold', total);
    }
    const chosen = this.select(request, false, now);
    if (chosen !== undefined) return chosen;
    if (threshold !== undefined) return this.#panic(request, now, 'none-available', total);
    this.#none(total);
    return undefined;
  }

  /** Records that a call to `entry` started; returns the start time to pass to {@link end}. */
  begin(entry: UpstreamEntry<U>): number {
    entry._inFlight++;
    const hot = this.#hot;
    if (!hot.tracksLatency) return 0;
    const now = hot.clock.now();
    entry._startSum += now;
    return now;
  }

  /**
   * Records that a call started with {@link begin} settled, successfully or not. Safe for an
   * upstream removed meanwhile: its own counters are updated, and they carry over if an upstream
   * of the same name is added back while calls are still in flight.
   */
  end(entry: UpstreamEntry<U>, startedAt: number): void {
    if (entry._inFlight > 0) entry._inFlight--;
    const hot = this.#hot;
    if (hot.tracksLatency) {
      const now = hot.clock.now();
      entry._startSum = entry._inFlight === 0 ? 0 : entry._startSum - startedAt;
      this.observe(entry, now - startedAt, now);
    }
    if (entry._inFlight === 0 && entry._owner === undefined) {
      if (this.#departed.get(entry.name) === entry) this.#departed.delete(entry.name);
    }
  }

  /**
   * Adds `upstream`; `weight` overrides `upstream.weight` (default 1). An upstream added after
   * construction goes through slow start. If a member has the same name, its upstream object and
   * weight are replaced and its counters kept. If an upstream of that name was removed but still
   * has calls in flight, its entry comes back with those calls counted.
   *
   * @throws RangeError when the weight is not in (0, 1e6]
   */
  add(upstream: U, weight?: number): UpstreamEntry<U> {
    const name = this.#nameOf(upstream);
    const resolved = this.#weight(weight ?? upstream.weight ?? 1);
    const existing = this.#byName.get(name);
    if (existing === undefined) return this.#insert(upstream, resolved, true);
    const reweighted = existing._weight !== resolved;
    if (existing._upstream === upstream && !reweighted) return existing;
    existing._upstream = upstream;
    existing._weight = resolved;
    this.#changed('update', existing, reweighted);
    return existing;
  }

  /**
   * Removes the upstream named `name`; returns whether it was a member. Calls in flight to it
   * finish normally and are still counted on its entry.
   */
  remove(name: string): boolean {
    const entry = this.#byName.get(name);
    if (entry === undefined) return false;
    this.#byName.delete(name);
    const list = this.list;
    list.splice(list.indexOf(entry), 1);
    if (entry._healthy) this.#hot.healthy--;
    if (entry._ramping) {
      entry._ramping = false;
      this.#hot.ramping--;
    }
    entry._owner = undefined;
    if (entry._inFlight > 0) this.#departed.set(name, entry);
    this.#changed('remove', entry);
    return true;
  }

  /**
   * Changes the configured weight of the upstream named `name`; returns whether it is a member.
   *
   * @throws RangeError when `weight` is not in (0, 1e6]
   */
  setWeight(name: string, weight: number): boolean {
    const resolved = this.#weight(weight);
    const entry = this.#byName.get(name);
    if (entry === undefined) return false;
    if (entry._weight === resolved) return true;
    entry._weight = resolved;
    this.#changed('weight', entry);
    return true;
  }

  /**
   * Marks the upstream named `name` healthy or unhealthy (a health checker calls this); returns
   * whether it is a member. An unhealthy upstream is not picked outside panic mode; one that
   * becomes healthy again goes through slow start. Health also decides `panicThreshold`.
   */
  setHealthy(name: string, healthy: boolean): boolean {
    const entry = this.#byName.get(name);
    if (entry === undefined) return false;
    if (entry._healthy === healthy) return true;
    entry._healthy = healthy;
    if (healthy) {
      this.#hot.healthy++;
      this.#startRamp(entry);
    } else {
      this.#hot.healthy--;
    }
    // Availability is checked at pick time: nothing derived from the membership changes.
    this.#changed('health', entry, false);
    return true;
  }

  /**
   * Makes the membership exactly `upstreams` (service discovery): adds the new ones, updates the
   * ones already present (keeping their counters) and removes the rest. Derived state is rebuilt
   * once, on the next pick.
   *
   * @throws RangeError on a duplicate name or an invalid weight, before anything changes
   */
  setUpstreams(upstreams: Iterable<U>): void {
    const next = new Map<string, U>();
    for (const upstream of upstreams) {
      const name = this.#nameOf(upstream);
      if (next.has(name)) {
        throw new RangeError(`${this.#owner}: upstream names must be unique, got "${name}" twice`);
      }
      this.#weight(upstream.weight ?? 1);
      next.set(name, upstream);
    }
    for (const entry of [...this.list]) {
      if (!next.has(entry.name)) this.remove(entry.name);
    }
    for (const upstream of next.values()) this.add(upstream);
  }

  /** The entry of the upstream named `name`, if it is a member. */
  get(name: string): UpstreamEntry<U> | undefined {
    return this.#byName.get(name);
  }

  /** The entries, in the order they were added (a copy). */
  entries(): UpstreamEntry<U>[] {
    return [...this.list];
  }

  /** Adds an availability check (see the `availability` option); the disposer removes it. */
  addAvailabilityCheck(hook: AvailabilityHook<U>): Disposer {
    const check = toAvailabilityCheck(hook);
    this.#setChecks([...(this.#hot.checks as readonly AvailabilityCheck<U>[]), check]);
    let removed = false;
    const dispose = (): void => {
      if (removed) return;
      removed = true;
      this.#setChecks(this.#hot.checks.filter((c) => c !== (check as AvailabilityCheck<never>)));
    };
    return Object.assign(dispose, { [Symbol.dispose]: dispose });
  }

  /** Subscribes to membership changes (add, update, remove, weight, health). */
  onChange(listener: (event: ChangeEvent) => void): Disposer {
    return this.events.onChange.on(listener);
  }

  /** Subscribes to picks that found no available upstream and did not panic. */
  onNoUpstream(listener: (event: NoUpstreamEvent) => void): Disposer {
    return this.events.onNoUpstream.on(listener);
  }

  /** Subscribes to picks made in panic mode. */
  onPanic(listener: (event: PanicEvent) => void): Disposer {
    return this.events.onPanic.on(listener);
  }

  /** @internal healthy and passing every availability check */
  isUsable(entry: UpstreamEntry<U>): boolean {
    // Reads only the entry (one object shape for every policy), never `this`.
    if (!entry._healthy) return false;
    const checks = entry._checks as readonly AvailabilityCheck<U>[];
    for (let i = 0; i < checks.length; i++) {
      if (!(checks[i] as AvailabilityCheck<U>)(entry._upstream)) return false;
    }
    return true;
  }

  /** @internal the weight in use at `now`, after slow start */
  weightOf(entry: UpstreamEntry<U>, now: number): number {
    if (!entry._ramping) return entry._weight;
    const settings = this.#slowStart as SlowStartSettings;
    const factor = slowStartFactor(settings, now - entry._rampFrom);
    if (factor >= 1) {
      entry._ramping = false;
      this.#hot.ramping--;
    }
    return entry._weight * factor;
  }

  /** @internal the latency estimate; undefined for policies without one */
  latencyOf(_entry: UpstreamEntry<U>, _now: number): number | undefined {
    return undefined;
  }

  /**
   * Chooses among the members. `all` is true in panic mode: then availability is ignored (use
   * {@link usable}). `now` is the clock's time when slow start is ramping or the policy tracks
   * latency, 0 otherwise. Return `undefined` when no member qualifies. Must not allocate.
   */
  protected abstract select(
    request: Req | undefined,
    all: boolean,
    now: number,
  ): UpstreamEntry<U> | undefined;

  /**
   * Rebuilds state derived from the membership or the weights (a table, a ring, cumulative
   * weights). Called once before the first pick after any number of changes.
   */
  protected rebuild(): void {
    // Policies without derived state have nothing to do.
  }

  /**
   * Records the latency of a settled call (its time from `begin` to `end`, and the clock's time at
   * `end`), for policies that track latency (`tracksLatency`). Others ignore it.
   */
  protected observe(_entry: UpstreamEntry<U>, _latencyMs: number, _now: number): void {
    // Policies that do not track latency ignore it.
  }

  /** True when `entry` may be picked: `all` (panic mode) or healthy and passing every check. */
  protected usable(entry: UpstreamEntry<U>, all: boolean): boolean {
    return all || this.isUsable(entry);
  }

  /** Runs {@link rebuild} now if the membership or a weight changed since it last ran. */
  protected refresh(): void {
    const hot = this.#hot;
    if (hot.dirty) {
      hot.dirty = false;
      this.rebuild();
    }
  }

  /** True while some member's weight is still ramping up (weights may then change per pick). */
  protected get ramping(): boolean {
    return this.#hot.ramping > 0;
  }

  /** The upstream's name, checked to be a string. */
  #nameOf(upstream: U): string {
    const name = (upstream as { name?: unknown } | null)?.name;
    if (typeof name !== 'string') {
      throw new TypeError(`${this.#owner}: an upstream must have a string name`);
    }
    return name;
  }

  #weight(weight: number): number {
    return requireNumber(this.#owner, 'weight', weight, 0, MAX_WEIGHT);
  }

  #insert(upstream: U, weight: number | undefined, ramp: boolean): UpstreamEntry<U> {
    const resolved = weight ?? this.#weight(upstream.weight ?? 1);
    let entry = this.#departed.get(upstream.name);
    if (entry === undefined) {
      entry = new UpstreamEntry(upstream, resolved, this);
    } else {
      this.#departed.delete(upstream.name);
      entry._upstream = upstream;
      entry._weight = resolved;
      entry._owner = this;
    }
    entry._healthy = true;
    entry._current = 0;
    entry._checks = this.#hot.checks;
    this.list.push(entry);
    this.#byName.set(entry.name, entry);
    this.#hot.healthy++;
    if (ramp) this.#startRamp(entry);
    this.#changed('add', entry);
    return entry;
  }

  /** Replaces the availability checks, on the balancer and on every member. */
  #setChecks(checks: readonly AvailabilityCheck<never>[]): void {
    const frozen = Object.freeze(checks);
    this.#hot.checks = frozen;
    for (const entry of this.list) entry._checks = frozen;
  }

  #startRamp(entry: UpstreamEntry<U>): void {
    if (this.#slowStart === undefined) return;
    if (!entry._ramping) this.#hot.ramping++;
    entry._ramping = true;
    entry._rampFrom = this.clock.now();
  }

  #changed(type: ChangeType, entry: UpstreamEntry<U>, structural = true): void {
    if (structural) this.#hot.dirty = true;
    const onChange = this.events.onChange;
    if (onChange.wanted) {
      onChange.emit({
        type,
        name: entry.name,
        weight: entry._weight,
        healthy: entry._healthy,
        size: this.list.length,
      });
    }
  }

  #panic(
    request: Req | undefined,
    now: number,
    reason: PanicReason,
    total: number,
  ): UpstreamEntry<U> | undefined {
    const onPanic = this.events.onPanic;
    if (onPanic.wanted) onPanic.emit({ reason, total, healthy: this.#hot.healthy });
    return this.select(request, true, now);
  }

  #none(total: number): void {
    const onNoUpstream = this.events.onNoUpstream;
    if (onNoUpstream.wanted) onNoUpstream.emit({ total });
  }
}

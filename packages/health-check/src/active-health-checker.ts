/**
 * Why: passive signals need traffic; an upstream nobody sends requests to can die unnoticed, and
 * one that was taken out of rotation gets no traffic to prove it is back. Active checks probe
 * every registered upstream on an interval — Envoy's active health checking, HAProxy's `check
 * inter … rise … fall`, Kubernetes' periodic probes — and flip its state only after
 * `healthyThreshold` / `unhealthyThreshold` results in a row (see `health-status.ts`).
 *
 * Scheduling, decided for a process that may watch hundreds of upstreams:
 * - ONE timer for the whole checker, armed for the earliest moment any upstream needs attention
 *   (a probe due, or an in-flight probe's deadline), kept in a min-heap (`due-heap.ts`). A timer
 *   per upstream would cost a timer object each and N wake-ups per interval where one suffices.
 *   The timer is unref'd: a health checker never holds a process open by itself.
 * - The next probe of an upstream is due one jittered interval after its previous probe ended
 *   (`interval × (1 ± jitter)`, uniformly), as Envoy schedules it. Probes therefore never
 *   overlap: at most one is in flight per upstream, whatever the interval and timeout. Each
 *   upstream keeps its own due time, so jitter and differing probe durations keep upstreams from
 *   being probed in lockstep; the first probe after `start()` (or `add()`) comes within
 *   `jitter × interval`.
 * - A probe's timeout is enforced by aborting its signal at the deadline (with core's
 *   TimeoutError) and counting the failure then, without waiting for the probe to notice. A
 *   probe that ignores its signal (a driver query that cannot be cancelled) still holds its
 *   upstream's slot — no second probe starts, even after `stop()`/`start()` or `remove()`/`add()`
 *   — and each interval it stays stuck counts as another failure.
 * - `stop()` / dispose cancel the timer and abort every in-flight probe; `asyncDispose` also
 *   waits (up to `timeoutMs`) for them to settle, which for the built-in probes means their
 *   sockets are closed.
 */
import {
  type Clock,
  type ClockTimer,
  type Disposer,
  type Emitter,
  MAX_TIMER_DELAY_MS,
  requireInteger,
  requireNumber,
  systemClock,
  TimeoutError,
} from '@proxykit/core';
import { CustomProbe } from './custom-probe.js';
import { type DueItem, DueHeap } from './due-heap.js';
import {
  type HealthChangeEvent,
  healthChangeEmitter,
  type ProbeEvent,
  probeEmitter,
} from './health-events.js';
import type { HealthProbe, HealthTarget, Named, ProbeFunction } from './health-probe.js';
import {
  type HealthStatus,
  type HealthThresholds,
  initialHealthStatus,
  recordProbe,
} from './health-status.js';

/** Options of {@link ActiveHealthChecker}. */
export interface ActiveHealthCheckerOptions {
  /** How to probe: an `HttpProbe`, a `TcpProbe`, a `CustomProbe` or a plain async function. */
  readonly probe: HealthProbe | ProbeFunction;
  /** Upstreams to check from the start; more can be added with `add()`. */
  readonly targets?: Iterable<HealthTarget>;
  /** Time from the end of one probe of an upstream to the next, in ms, in (0, 2147483647] (default 10 000). */
  readonly intervalMs?: number;
  /** The interval used while an upstream is unhealthy, in (0, 2147483647] (default: `intervalMs`). */
  readonly unhealthyIntervalMs?: number;
  /** Longest a probe may take before it is cut and counted as failed, in ms, in (0, 2147483647] (default 1 000). */
  readonly timeoutMs?: number;
  /** Each interval is multiplied by a uniform random factor in `[1 - jitter, 1 + jitter]` (but is at least 1 ms); jitter in [0, 1] (default 0.1). */
  readonly jitter?: number;
  /** Successful probes in a row that make an unhealthy upstream healthy, an integer >= 1 (default 2). */
  readonly healthyThreshold?: number;
  /** Failed probes in a row that make a healthy upstream unhealthy, an integer >= 1 (default 3). */
  readonly unhealthyThreshold?: number;
  /**
   * State of an upstream before its first probes (default `'healthy'`, as HAProxy assumes a
   * server up: traffic is not refused while the first probes run). `'unhealthy'` keeps a new
   * upstream out until `healthyThreshold` probes pass, like a Kubernetes readiness probe.
   */
  readonly initialHealth?: 'healthy' | 'unhealthy';
  /** Time source and timers; defaults to the system clock. */
  readonly clock?: Clock;
  /** Random numbers in [0, 1) for the jitter; defaults to `Math.random`. */
  readonly random?: () => number;
  /** @internal whether health changes are published on the diagnostics channel (default true) */
  readonly publishHealthChanges?: boolean;
}

/** Per-upstream options of {@link ActiveHealthChecker.add}. */
export interface AddTargetOptions {
  /** Probe this upstream with another probe than the checker's. */
  readonly probe?: HealthProbe | ProbeFunction;
}

/** @internal one probe in flight */
interface ProbeRun {
  /** The upstream's name: at most one probe per name runs, whatever happens to its entry. */
  readonly name: string;
  readonly controller: AbortController;
  readonly startedAt: number;
  /** The probe's own promise (settles when the probe has let go of its resources). */
  pending: Promise<void>;
  /** True once its outcome has been recorded (it was cut at its deadline). */
  counted: boolean;
}

/** @internal the checker's state for one upstream */
export class MonitoredUpstream implements DueItem {
  dueAt = 0;
  heapIndex = -1;
  /** The probe in flight, if any. */
  run: ProbeRun | undefined = undefined;
  /** Start time of the last probe that succeeded; -Infinity if none did. */
  lastSuccessStartedAt: number = -Infinity;
  /** A probe must start no later than this (see `scheduleProbe`); Infinity when none was asked. */
  soonest: number = Infinity;

  constructor(
    readonly seq: number,
    public target: HealthTarget,
    public probe: HealthProbe,
    public status: HealthStatus,
  ) {}
}

const OWNER = 'ActiveHealthChecker';
const SETTLED: Promise<void> = Promise.resolve();

function toProbe(probe: unknown, what: string): HealthProbe {
  if (typeof probe === 'function') return new CustomProbe(probe as ProbeFunction);
  if (
    typeof probe === 'object' &&
    probe !== null &&
    typeof (probe as Partial<HealthProbe>).probe === 'function'
  ) {
    return probe as HealthProbe;
  }
  throw new TypeError(
    `${OWNER}: ${what} must be a HealthProbe (HttpProbe, TcpProbe, CustomProbe) or an async function`,
  );
}

function validateTarget(target: unknown): HealthTarget {
  const t = target as Partial<HealthTarget> | null;
  if (typeof t !== 'object' || t === null || typeof t.name !== 'string' || t.name === '') {
    throw new TypeError(`${OWNER}: a target needs a non-empty string name`);
  }
  if (typeof t.host !== 'string' || t.host === '') {
    throw new TypeError(`${OWNER}: target ${t.name} needs a non-empty string host`);
  }
  requireInteger(OWNER, `port of ${t.name}`, t.port, 1, 65_535);
  return t as HealthTarget;
}

function stoppedError(why: string): DOMException {
  return new DOMException(`Health probe aborted: ${why}`, 'AbortError');
}

/**
 * Probes every registered upstream on an interval and keeps a {@link HealthStatus} for each.
 *
 * @example
 * ```ts
 * await using checker = new ActiveHealthChecker({
 *   probe: new HttpProbe({ path: '/healthz' }),
 *   targets: upstreams, // [{ name, host, port }, …]
 *   intervalMs: 5_000,
 * }).start();
 * const available = upstreams.filter(checker.isAvailable);
 * ```
 */
export class ActiveHealthChecker implements Disposable, AsyncDisposable {
  /** Base interval between probes of an upstream, in ms. */
  readonly intervalMs: number;
  /** Interval while an upstream is unhealthy, in ms. */
  readonly unhealthyIntervalMs: number;
  /** Probe timeout, in ms. */
  readonly timeoutMs: number;
  /** Jitter fraction of the interval. */
  readonly jitter: number;
  /** The rise/fall thresholds. */
  readonly thresholds: HealthThresholds;
  /** State of newly added upstreams. */
  readonly initialHealth: 'healthy' | 'unhealthy';
  /** The clock the checker runs on. */
  readonly clock: Clock;
  readonly #probe: HealthProbe;
  readonly #random: () => number;
  readonly #entries = new Map<string, MonitoredUpstream>();
  readonly #heap = new DueHeap<MonitoredUpstream>();
  /**
   * The probe running for each name. Usually the entry's own run, but a probe that ignored the
   * abort of `stop()` or `remove()` keeps its name's slot until it settles, so that a restarted
   * checker or a re-added upstream never runs a second probe beside it.
   */
  readonly #busy = new Map<string, ProbeRun>();
  readonly #onHealthChange: Emitter<HealthChangeEvent>;
  readonly #onProbe: Emitter<ProbeEvent> = probeEmitter();
  #seq = 0;
  #running = false;
  #disposed = false;
  #timer: ClockTimer | undefined = undefined;
  #timerAt = Infinity;

  /** @throws RangeError or TypeError naming the first invalid option */
  constructor(options: ActiveHealthCheckerOptions) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(`${OWNER}: options with a probe are required`);
    }
    this.#probe = toProbe(options.probe, 'probe');
    this.intervalMs = requireNumber(
      OWNER,
      'intervalMs',
      options.intervalMs ?? 10_000,
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.unhealthyIntervalMs = requireNumber(
      OWNER,
      'unhealthyIntervalMs',
      options.unhealthyIntervalMs ?? this.intervalMs,
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.timeoutMs = requireNumber(
      OWNER,
      'timeoutMs',
      options.timeoutMs ?? 1_000,
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.jitter = requireNumber(OWNER, 'jitter', options.jitter ?? 0.1, 0, 1, true);
    this.thresholds = {
      healthyThreshold: requireInteger(OWNER, 'healthyThreshold', options.healthyThreshold ?? 2, 1),
      unhealthyThreshold: requireInteger(
        OWNER,
        'unhealthyThreshold',
        options.unhealthyThreshold ?? 3,
        1,
      ),
    };
    const initial = options.initialHealth ?? 'healthy';
    if (!(['healthy', 'unhealthy'] as unknown[]).includes(initial)) {
      throw new TypeError(
        `${OWNER}: initialHealth must be 'healthy' or 'unhealthy', got ${JSON.stringify(initial)}`,
      );
    }
    this.initialHealth = initial;
    const random = options.random ?? Math.random;
    if (typeof random !== 'function') throw new TypeError(`${OWNER}: random must be a function`);
    this.#random = random;
    this.clock = options.clock ?? systemClock;
    this.#onHealthChange = healthChangeEmitter(options.publishHealthChanges !== false);
    for (const target of options.targets ?? []) this.add(target);
  }

  /** True between `start()` and `stop()` (or dispose). */
  get running(): boolean {
    return this.#running;
  }

  /** Number of upstreams registered. */
  get size(): number {
    return this.#entries.size;
  }

  /** The registered upstreams. */
  get targets(): HealthTarget[] {
    return [...this.#entries.values()].map((e) => e.target);
  }

  /**
   * Registers an upstream (or updates one with the same name). A new upstream starts in
   * `initialHealth` and, if the checker is running, gets its first probe within
   * `jitter × intervalMs`. Updating keeps the status unless the address changed.
   *
   * @throws TypeError or RangeError when the target or its probe is invalid
   */
  add(target: HealthTarget, options: AddTargetOptions = {}): this {
    const valid = validateTarget(target);
    const probe = options.probe === undefined ? this.#probe : toProbe(options.probe, 'probe');
    const existing = this.#entries.get(valid.name);
    if (existing !== undefined) {
      const old = existing.target;
      existing.target = valid;
      existing.probe = probe;
      if (old.host !== valid.host || old.port !== valid.port || old.scheme !== valid.scheme) {
        // Another address is another server: what we knew about the old one says nothing.
        this.#abortRun(existing, 'upstream address changed');
        existing.status = initialHealthStatus(this.initialHealth);
        existing.lastSuccessStartedAt = -Infinity;
        if (this.#running) this.#reschedule(existing, this.clock.now() + this.#firstDelay());
      }
      return this;
    }
    const entry = new MonitoredUpstream(
      this.#seq++,
      valid,
      probe,
      initialHealthStatus(this.initialHealth),
    );
    this.#entries.set(valid.name, entry);
    if (this.#running) this.#reschedule(entry, this.clock.now() + this.#firstDelay());
    return this;
  }

  /** Forgets an upstream, aborting its probe in flight; returns whether it was registered. */
  remove(name: string): boolean {
    const entry = this.#entries.get(name);
    if (entry === undefined) return false;
    this.#entries.delete(name);
    this.#abortRun(entry, 'upstream removed');
    this.#heap.remove(entry);
    this.#arm();
    return true;
  }

  /** True when an upstream of that name is registered. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** The status of `name`, or `undefined` when it is not registered. */
  statusOf(name: string): HealthStatus | undefined {
    return this.#entries.get(name)?.status;
  }

  /**
   * Whether active checks let `upstream` (or the upstream of that name) take traffic: true when
   * it is healthy or not registered. A bound function, so `upstreams.filter(checker.isAvailable)`
   * and a load balancer's `isAvailable: checker.isAvailable` hook work as they are.
   */
  readonly isAvailable = (upstream: Named | string): boolean => {
    const entry = this.#entries.get(typeof upstream === 'string' ? upstream : upstream.name);
    return entry === undefined || entry.status.healthy;
  };

  /**
   * Starts probing. Each upstream gets its first probe within `jitter × intervalMs`.
   *
   * @returns this checker, so that `using checker = new ActiveHealthChecker(…).start()` works
   * @throws Error when the checker was disposed
   */
  start(): this {
    if (this.#disposed) throw new Error(`${OWNER}: start() after dispose`);
    if (this.#running) return this;
    this.#running = true;
    const now = this.clock.now();
    for (const entry of this.#entries.values()) this.#reschedule(entry, now + this.#firstDelay());
    return this;
  }

  /**
   * Stops probing: cancels the timer and aborts every probe in flight (their outcomes are not
   * recorded). Statuses are kept; `start()` resumes.
   */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#heap.clear();
    for (const entry of this.#entries.values()) this.#abortRun(entry, 'health checker stopped');
  }

  /**
   * Brings the next probe of `name` forward so that one starts within `delayMs` (default 0) —
   * never later than it was due anyway. With a probe in flight, the next one starts as soon as
   * that one ends and the requested time has come. Used to check an upstream as soon as its
   * ejection ends. Returns false when `name` is not registered.
   */
  scheduleProbe(name: string, delayMs = 0): boolean {
    const entry = this.#entries.get(name);
    if (entry === undefined) return false;
    const at = this.clock.now() + Math.max(0, delayMs);
    entry.soonest = Math.min(entry.soonest, at);
    if (this.#running && entry.run === undefined && at < entry.dueAt) this.#reschedule(entry, at);
    return true;
  }

  /** Subscribes to state changes (`healthy` ⇄ `unhealthy`); returns the disposer. */
  onHealthChange(listener: (event: HealthChangeEvent) => void): Disposer {
    return this.#onHealthChange.on(listener);
  }

  /** Subscribes to every probe result (for latency metrics, logs); returns the disposer. */
  onProbe(listener: (event: ProbeEvent) => void): Disposer {
    return this.#onProbe.on(listener);
  }

  /** Stops the checker for good: no timer, no probe in flight. */
  [Symbol.dispose](): void {
    this.stop();
    this.#disposed = true;
  }

  /**
   * Stops the checker for good and waits until the probes that were in flight have settled
   * (their sockets closed), but no longer than `timeoutMs` for a probe that ignores its signal.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    const pending = [...this.#busy.values()].map((run) => run.pending);
    this[Symbol.dispose]();
    if (pending.length === 0) return;
    let bound: ClockTimer | undefined;
    const giveUp = new Promise<void>((resolve) => {
      bound = this.clock.setTimer(resolve, this.timeoutMs);
      bound.unref();
    });
    await Promise.race([Promise.allSettled(pending), giveUp]);
    bound?.cancel();
  }

  /** @internal the state of `name`, for the combining HealthChecker */
  entryOf(name: string): MonitoredUpstream | undefined {
    return this.#entries.get(name);
  }

  #firstDelay(): number {
    return this.jitter * this.intervalMs * this.#random();
  }

  /**
   * When the next probe of `entry` is due if the previous one ended at `now`. A probe asked for
   * earlier (`scheduleProbe`) counts only when `startsProbe`: after a deadline the probe may still
   * be running, and the next look at it must be an interval away, or it would be at once, again.
   */
  #nextDue(entry: MonitoredUpstream, now: number, startsProbe: boolean): number {
    const base = entry.status.healthy ? this.intervalMs : this.unhealthyIntervalMs;
    // At least 1 ms: with jitter 1 a draw near 0 must not turn into back-to-back probes.
    const due = now + Math.max(1, base * (1 + this.jitter * (2 * this.#random() - 1)));
    return startsProbe && entry.soonest < due ? Math.max(now, entry.soonest) : due;
  }

  #reschedule(entry: MonitoredUpstream, at: number): void {
    this.#heap.schedule(entry, at);
    this.#arm();
  }

  /** Arms the single timer for the earliest due item, unless it is armed early enough. */
  #arm(): void {
    const first = this.#heap.peek();
    if (!this.#running || first === undefined) {
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    if (this.#timer !== undefined && this.#timerAt <= first.dueAt) return;
    this.#timer?.cancel();
    this.#timerAt = first.dueAt;
    const delayMs = Math.min(
      MAX_TIMER_DELAY_MS,
      Math.max(0, Math.ceil(first.dueAt - this.clock.now())),
    );
    const timer = this.clock.setTimer(this.#tick, delayMs);
    timer.unref();
    this.#timer = timer;
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.clock.now();
    for (let first = this.#heap.peek(); first !== undefined && first.dueAt <= now;) {
      this.#heap.remove(first);
      this.#attend(first, now);
      if (!this.#running) return;
      first = this.#heap.peek();
    }
    this.#arm();
  };

  /** Does what `entry` is due for: cut its probe at the deadline, or start the next probe. */
  #attend(entry: MonitoredUpstream, now: number): void {
    const run = entry.run;
    if (run !== undefined) {
      // A deadline passed (or the probe that passed it is still stuck): a failure either way.
      const error = new TimeoutError(this.timeoutMs);
      if (!run.counted) {
        run.counted = true;
        run.controller.abort(error);
      }
      this.#record(entry, false, error, now, run.startedAt);
      this.#heap.schedule(entry, this.#nextDue(entry, now, false));
      return;
    }
    const name = entry.target.name;
    const holder = this.#busy.get(name);
    if (holder !== undefined) {
      // A probe from before a stop() or remove() ignored its abort and still runs: no second one.
      // Once it is older than the timeout it is stuck, and that counts as a failure.
      const deadline = holder.startedAt + this.timeoutMs;
      if (now < deadline) this.#heap.schedule(entry, deadline);
      else {
        this.#record(entry, false, new TimeoutError(this.timeoutMs), now, holder.startedAt);
        this.#heap.schedule(entry, this.#nextDue(entry, now, false));
      }
      return;
    }
    if (now >= entry.soonest) entry.soonest = Infinity;
    const controller = new AbortController();
    // In place before the probe runs, so a probe that stops the checker is itself aborted.
    const started: ProbeRun = {
      name,
      controller,
      startedAt: now,
      pending: SETTLED,
      counted: false,
    };
    entry.run = started;
    this.#busy.set(name, started);
    let pending: Promise<void>;
    try {
      pending = entry.probe.probe(entry.target, controller.signal);
    } catch (error) {
      pending = Promise.reject(error);
    }
    started.pending = pending;
    pending.then(
      () => {
        this.#settle(entry, started, true, undefined);
      },
      (error: unknown) => {
        this.#settle(entry, started, false, error);
      },
    );
    // The probe may have stopped the checker or removed its upstream.
    if (this.#running && this.#entries.get(entry.target.name) === entry) {
      this.#heap.schedule(entry, now + this.timeoutMs);
    }
  }

  #settle(entry: MonitoredUpstream, run: ProbeRun, ok: boolean, error: unknown): void {
    if (this.#busy.get(run.name) === run) this.#busy.delete(run.name);
    if (entry.run !== run) return; // aborted by stop/remove: not an outcome
    entry.run = undefined;
    const now = this.clock.now();
    const live = this.#running && this.#entries.get(entry.target.name) === entry;
    if (run.counted) {
      // Cut at its deadline and counted then; the next probe is scheduled — sooner if asked.
      if (live && entry.soonest < entry.dueAt)
        this.#reschedule(entry, Math.max(now, entry.soonest));
      return;
    }
    this.#record(entry, ok, error, now, run.startedAt);
    if (live) this.#reschedule(entry, this.#nextDue(entry, now, true));
  }

  #record(
    entry: MonitoredUpstream,
    ok: boolean,
    error: unknown,
    now: number,
    startedAt: number,
  ): void {
    const before = entry.status;
    const after = recordProbe(before, ok ? 'success' : 'failure', this.thresholds, now, error);
    entry.status = after;
    if (ok) entry.lastSuccessStartedAt = startedAt;
    const upstream = entry.target.name;
    if (before.state !== after.state && this.#onHealthChange.wanted) {
      this.#onHealthChange.emit(
        after.healthy
          ? { upstream, from: before.state, to: after.state, reason: 'healthy-threshold' }
          : { upstream, from: before.state, to: after.state, reason: 'unhealthy-threshold', error },
      );
    }
    if (this.#onProbe.wanted) {
      const durationMs = now - startedAt;
      this.#onProbe.emit(
        ok
          ? { upstream, ok, startedAt, durationMs }
          : { upstream, ok, startedAt, durationMs, error },
      );
    }
  }

  #abortRun(entry: MonitoredUpstream, why: string): void {
    const run = entry.run;
    if (run === undefined) return;
    entry.run = undefined;
    if (!run.controller.signal.aborted) run.controller.abort(stoppedError(why));
  }
}

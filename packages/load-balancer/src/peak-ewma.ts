/**
 * Why: in-flight counts react to a slow upstream only once calls have piled up on it; latency
 * reacts at the first slow answer. PeakEwma is Finagle's and tower's latency-aware balancer (the
 * default of Linkerd): each upstream keeps an exponentially weighted moving average of its
 * response times that jumps straight to any slower response (the "peak") and decays with time
 * otherwise, and power of two choices picks the lower cost = estimate × (in_flight + 1) / weight.
 *
 * The estimate follows Finagle's `PeakEwma` formula, but reads never change it, so the result
 * does not depend on how often it is read: between responses it decays towards zero with time
 * constant `decayMs` (an idle slow upstream is eventually tried again); a response slower than the
 * decayed estimate replaces it; a faster one is averaged in with weight 1 − e^(−Δ/decayMs), Δ
 * being the time since the previous response. New upstreams start at `defaultRttMs` (Linkerd's 30
 * ms and 10 s are the defaults). One addition to tower and Finagle: the estimate never drops below
 * the mean age of the upstream's outstanding calls, so an upstream that stops answering cannot look
 * fast while its calls hang.
 */
import { MAX_TIMER_DELAY_MS, requireNumber } from '@proxykit/core';
import type { LoadBalancerOptions } from './load-balancer.js';
import { TwoChoiceBalancer } from './two-choices.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/** Options of {@link PeakEwma}. */
export interface PeakEwmaOptions<
  U extends UpstreamLike = UpstreamLike,
> extends LoadBalancerOptions<U> {
  /** Time constant of the decay in ms, in (0, 2147483647] (default 10 000, as Finagle and Linkerd). */
  readonly decayMs?: number;
  /** Latency assumed for an upstream before its first response, in ms, in [0, 2147483647] (default 30). */
  readonly defaultRttMs?: number;
}

/**
 * Latency-aware power of two choices: the lower peak-EWMA latency × (in-flight + 1) / weight.
 * Needs latencies: use it behind a `LoadBalancerLayer`, or call `begin`/`end` around each call.
 *
 * @example
 * ```ts
 * const ewma = new PeakEwma({ upstreams, decayMs: 10_000, defaultRttMs: 30 });
 * const call = new LoadBalancerLayer({ balancer: ewma }).wrap(send);
 * ```
 */
export class PeakEwma<U extends UpstreamLike = UpstreamLike> extends TwoChoiceBalancer<U> {
  /** Time constant of the decay, in ms. */
  readonly decayMs: number;
  /** Latency assumed before the first response, in ms. */
  readonly defaultRttMs: number;

  /** @throws RangeError naming the first invalid option */
  constructor(options: PeakEwmaOptions<U> = {}) {
    super('PeakEwma', options, true);
    this.decayMs = requireNumber(
      'PeakEwma',
      'decayMs',
      options.decayMs ?? 10_000,
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.defaultRttMs = requireNumber(
      'PeakEwma',
      'defaultRttMs',
      options.defaultRttMs ?? 30,
      0,
      MAX_TIMER_DELAY_MS,
      true,
    );
  }

  /** @internal the decayed estimate at `now` (the default before the first response) */
  override latencyOf(entry: UpstreamEntry<U>, now: number): number {
    const estimate = entry._ewma;
    return estimate < 0
      ? this.defaultRttMs
      : estimate * Math.exp((entry._ewmaAt - now) / this.decayMs);
  }

  /** The cost of sending one more call to `entry` at `now`. */
  protected cost(entry: UpstreamEntry<U>, now: number): number {
    let latency = this.latencyOf(entry, now);
    const inFlight = entry._inFlight;
    if (inFlight > 0) {
      const meanAge = now - entry._startSum / inFlight;
      if (meanAge > latency) latency = meanAge;
    }
    return (latency * (inFlight + 1)) / this.weightOf(entry, now);
  }

  /** The lower cost; `a` on a tie. */
  protected prefer(a: UpstreamEntry<U>, b: UpstreamEntry<U>, now: number): UpstreamEntry<U> {
    return this.cost(a, now) <= this.cost(b, now) ? a : b;
  }

  /** Folds one response time into the upstream's estimate. */
  protected override observe(entry: UpstreamEntry<U>, latencyMs: number, now: number): void {
    const previous = entry._ewma;
    const w = previous < 0 ? 0 : Math.exp((entry._ewmaAt - now) / this.decayMs);
    const decayed = previous * w;
    entry._ewma = latencyMs >= decayed ? latencyMs : decayed * w + latencyMs * (1 - w);
    entry._ewmaAt = now;
  }
}

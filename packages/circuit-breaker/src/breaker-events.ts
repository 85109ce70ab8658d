/**
 * Why: a breaker that opens silently is a breaker nobody trusts. Every transition, counted
 * outcome and rejection is a typed event with a disposer, also published on
 * `proxykit:circuit-breaker:<event>` for tracers; payloads are built only when someone listens.
 */
import { Emitter, type OutcomeClass, proxykitChannel } from '@proxykit/core';

/** The states of a breaker, as reported to users. `isolated` is open by hand until released. */
export type CircuitState = 'closed' | 'open' | 'half-open' | 'isolated';

/** Why a breaker changed state. */
export type TransitionReason =
  | 'tripped'
  | 'probe-failed'
  | 'probes-succeeded'
  | 'reset-timeout-elapsed'
  | 'isolated'
  | 'released'
  | 'reset'
  | 'restored';

/** Payload of `onStateChange`. `key` is the breaker's key in a KeyedCircuitBreaker. */
export interface StateChangeEvent<K = undefined> {
  /** The key of the breaker (undefined for a single CircuitBreakerLayer). */
  readonly key: K;
  /** State before the change. */
  readonly from: CircuitState;
  /** State after the change. */
  readonly to: CircuitState;
  /** What caused it. */
  readonly reason: TransitionReason;
}

/** Payload of `onFailure` and `onSuccess`: an outcome the breaker counted. */
export interface OutcomeEvent<K = undefined> {
  /** The key of the breaker. */
  readonly key: K;
  /** How the classifier judged the outcome. */
  readonly outcome: OutcomeClass;
  /** True when a call that succeeded counted as a failure for being slower than the threshold. */
  readonly slow: boolean;
  /** The error thrown, if the call threw. */
  readonly error?: unknown;
  /** True when the call was a half-open probe. */
  readonly probe: boolean;
}

/** Payload of `onReject`: a call the breaker refused without running it. */
export interface RejectEvent<K = undefined> {
  /** The key of the breaker. */
  readonly key: K;
  /** State that refused the call. */
  readonly state: CircuitState;
  /** Time until the breaker admits a probe (Infinity while isolated, 0 when probes are busy). */
  readonly retryAfterMs: number;
}

/** The four event streams of a breaker (or of all breakers of a KeyedCircuitBreaker). */
export class BreakerEvents<K> {
  /** Fires on every state transition. */
  readonly onStateChange: Emitter<StateChangeEvent<K>> = new Emitter(
    proxykitChannel('circuit-breaker', 'state-change'),
  );
  /** Fires for every call counted as a failure. */
  readonly onFailure: Emitter<OutcomeEvent<K>> = new Emitter(
    proxykitChannel('circuit-breaker', 'failure'),
  );
  /** Fires for every call counted as a success. */
  readonly onSuccess: Emitter<OutcomeEvent<K>> = new Emitter(
    proxykitChannel('circuit-breaker', 'success'),
  );
  /** Fires for every call rejected without being run. */
  readonly onReject: Emitter<RejectEvent<K>> = new Emitter(
    proxykitChannel('circuit-breaker', 'reject'),
  );
}

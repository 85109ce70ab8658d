/**
 * Why: an upstream leaving rotation silently is an outage nobody can explain afterwards. Every
 * change of an upstream's health is a typed event with a disposer, also published on
 * `node:diagnostics_channel` as `proxykit:health-check:<event>` for tracers and metrics (the
 * proxy turns them into Prometheus series, as Envoy's `health_check.*` and `outlier_detection.*`
 * stats). Payloads are built only when someone listens.
 */
import { Emitter, proxykitChannel } from '@proxykit/core';

/**
 * How an upstream stands: `healthy` (may receive traffic), `unhealthy` (active probes failed
 * `unhealthyThreshold` times in a row) or `ejected` (passive outlier detection took it out of
 * rotation, or it is back from an ejection and has not yet passed an active probe).
 */
export type HealthState = 'healthy' | 'unhealthy' | 'ejected';

/**
 * What changed an upstream's state:
 * - `healthy-threshold`: `healthyThreshold` active probes in a row succeeded;
 * - `unhealthy-threshold`: `unhealthyThreshold` active probes in a row failed;
 * - `ejected`: `consecutiveFailures` live calls in a row failed and the ejection cap had room;
 * - `ejection-ended`: the ejection time passed (noticed lazily, when the upstream is next looked at);
 * - `return-probe-succeeded`: an active probe started after the ejection ended succeeded;
 * - `reset`: the upstream's passive state was reset by hand.
 */
export type HealthChangeReason =
  | 'healthy-threshold'
  | 'unhealthy-threshold'
  | 'ejected'
  | 'ejection-ended'
  | 'return-probe-succeeded'
  | 'reset';

/** Payload of `onHealthChange`. */
export interface HealthChangeEvent {
  /** Name of the upstream. */
  readonly upstream: string;
  /** State before the change. */
  readonly from: HealthState;
  /** State after the change. */
  readonly to: HealthState;
  /** What caused it. */
  readonly reason: HealthChangeReason;
  /** For `unhealthy-threshold`: why the last probe failed. */
  readonly error?: unknown;
  /** For `ejected`: how long the ejection lasts, in ms. */
  readonly ejectedForMs?: number;
}

/** Payload of `onProbe`: one active probe finished (or was cut at its timeout). */
export interface ProbeEvent {
  /** Name of the upstream probed. */
  readonly upstream: string;
  /** Whether the probe succeeded. */
  readonly ok: boolean;
  /** Clock time the probe started, in ms. */
  readonly startedAt: number;
  /** How long it took, in ms (the timeout, for a probe cut at its timeout). */
  readonly durationMs: number;
  /** Why it failed, when it did. */
  readonly error?: unknown;
}

/** Payload of `onEjectionSkipped`: an upstream qualified for ejection but the cap was reached. */
export interface EjectionSkippedEvent {
  /** Name of the upstream that was not ejected. */
  readonly upstream: string;
  /** Upstreams ejected at that moment. */
  readonly ejected: number;
  /** Most upstreams that may be ejected at once, for the current pool size. */
  readonly maxEjected: number;
}

/** @internal an emitter for health changes, published on the channel only when `publish` */
export function healthChangeEmitter(publish: boolean): Emitter<HealthChangeEvent> {
  return new Emitter(publish ? proxykitChannel('health-check', 'health-change') : undefined);
}

/** @internal the emitter of probe results, published on `proxykit:health-check:probe` */
export function probeEmitter(): Emitter<ProbeEvent> {
  return new Emitter(proxykitChannel('health-check', 'probe'));
}

/** @internal the emitter of skipped ejections, published on `proxykit:health-check:ejection-skipped` */
export function ejectionSkippedEmitter(): Emitter<EjectionSkippedEvent> {
  return new Emitter(proxykitChannel('health-check', 'ejection-skipped'));
}

/**
 * Why: "no upstream available" and "panic mode engaged" are the two moments an operator must hear
 * about (Envoy counts them as `upstream_cx_none_healthy` and `lb_healthy_panic`), and membership
 * changes explain every shift of traffic. Each is a typed event with a disposer, also published on
 * `proxykit:load-balancer:<event>`; payloads are built only when someone listens.
 */
import { Emitter, proxykitChannel } from '@proxykit/core';

/** What changed in a balancer's membership. */
export type ChangeType = 'add' | 'update' | 'remove' | 'weight' | 'health';

/** Payload of `onChange`: one upstream joined, left, or changed weight or health. */
export interface ChangeEvent {
  /** What happened. */
  readonly type: ChangeType;
  /** The upstream's name. */
  readonly name: string;
  /** Its configured weight after the change (its last weight for `remove`). */
  readonly weight: number;
  /** Its health after the change. */
  readonly healthy: boolean;
  /** Number of upstreams after the change. */
  readonly size: number;
}

/** Payload of `onNoUpstream`: a pick found no available upstream (and panic mode did not apply). */
export interface NoUpstreamEvent {
  /** Number of upstreams configured. */
  readonly total: number;
}

/** Why a pick ignored availability. */
export type PanicReason = 'threshold' | 'none-available';

/** Payload of `onPanic`: a pick ignored health and availability checks (Envoy's panic mode). */
export interface PanicEvent {
  /**
   * `threshold`: fewer than `panicThreshold` percent of the upstreams are healthy;
   * `none-available`: no upstream passed the availability checks.
   */
  readonly reason: PanicReason;
  /** Number of upstreams configured. */
  readonly total: number;
  /** Number of upstreams marked healthy. */
  readonly healthy: number;
}

/** @internal the event streams of one balancer */
export class BalancerEvents {
  readonly onChange: Emitter<ChangeEvent> = new Emitter(proxykitChannel('load-balancer', 'change'));
  readonly onNoUpstream: Emitter<NoUpstreamEvent> = new Emitter(
    proxykitChannel('load-balancer', 'no-upstream'),
  );
  readonly onPanic: Emitter<PanicEvent> = new Emitter(proxykitChannel('load-balancer', 'panic'));
}

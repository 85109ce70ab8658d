// Why: choosing a backend for a TCP connection takes three of our packages together, as HAProxy's
// `balance` + `check` + `observe layer4` or Envoy's cluster with active health checking and
// outlier detection do: the load balancer picks, TCP health probes (connect and close) take a dead
// backend out after `fall` failures and back after `rise` successes, and a circuit breaker per
// backend, fed by the forwarder's own connect attempts, takes out a backend that refuses
// connections between two probes. The balancer asks both through its availability checks, so a
// pick only ever lands on a backend both consider usable. Retries after a failed connect ask for
// a backend not tried yet.

import { KeyedCircuitBreaker } from '@proxykit/circuit-breaker';
import { HealthChecker, type HealthState, TcpProbe } from '@proxykit/health-check';
import {
  type AvailabilityHook,
  balancerByName,
  type LoadBalancer,
  type UpstreamEntry,
} from '@proxykit/load-balancer';
import type { Upstream } from '@proxykit/upstream-pool';
import type { L4LbPolicy } from './forwarder-config.js';

/** Options of {@link BackendSelector}. */
export interface BackendSelectorOptions {
  /** The backends. */
  readonly backends: readonly Upstream[];
  /** Load-balancing policy; `maglev` hashes the key given to `pick` (the client address). */
  readonly lb: L4LbPolicy;
  /** Active TCP health checks on. */
  readonly healthCheck: boolean;
  /** Interval between two probes of one backend, in ms. */
  readonly healthCheckIntervalMs: number;
  /** A probe that has not connected after this long fails, in ms. */
  readonly healthCheckTimeoutMs: number;
  /** Failed probes in a row that take a backend out. */
  readonly unhealthyThreshold: number;
  /** Passed probes in a row that bring it back. */
  readonly healthyThreshold: number;
  /** Failed connects in a row that open a backend's breaker. */
  readonly breakerFailureThreshold: number;
  /** How long an open breaker keeps its backend out, in ms. */
  readonly breakerOpenMs: number;
}

/**
 * The load balancer, the TCP health checker and the per-backend breakers of one worker.
 */
export class BackendSelector implements AsyncDisposable {
  /** The balancer (its entries hold the in-flight connection counts). */
  readonly balancer: LoadBalancer<Upstream, string | undefined>;
  /** The health checker, when active checks are on. */
  readonly health: HealthChecker | undefined;
  /** One breaker per backend name, fed with connect outcomes. */
  readonly breakers: KeyedCircuitBreaker<string>;
  readonly #size: number;

  /** @throws RangeError naming an invalid option */
  constructor(options: BackendSelectorOptions) {
    this.breakers = new KeyedCircuitBreaker<string>({
      failureThreshold: options.breakerFailureThreshold,
      resetTimeoutMs: options.breakerOpenMs,
      maxKeys: Math.max(1, options.backends.length),
    });
    this.health = options.healthCheck
      ? new HealthChecker({
          targets: options.backends,
          active: {
            probe: new TcpProbe(),
            intervalMs: options.healthCheckIntervalMs,
            timeoutMs: options.healthCheckTimeoutMs,
            unhealthyThreshold: options.unhealthyThreshold,
            healthyThreshold: options.healthyThreshold,
          },
        }).start()
      : undefined;
    const availability: AvailabilityHook<Upstream>[] = [this.breakers];
    if (this.health !== undefined) availability.push(this.health.isAvailable);
    // Maglev hashes what pick() receives: the client's address (source affinity).
    this.balancer = balancerByName<Upstream, string | undefined>(options.lb, {
      upstreams: options.backends,
      availability,
    });
    this.#size = options.backends.length;
  }

  /** Number of backends. */
  get size(): number {
    return this.#size;
  }

  /**
   * An available backend for a connection from `clientAddress` that is not in `tried`, or
   * `undefined` when every available backend has been tried (or none is available).
   */
  pick(
    clientAddress: string | undefined,
    tried?: readonly string[],
  ): UpstreamEntry<Upstream> | undefined {
    const balancer = this.balancer;
    const first = balancer.pickEntry(clientAddress);
    if (first === undefined || tried === undefined || !tried.includes(first.name)) return first;
    // A retry: ask the policy a few more times, then walk the members in order.
    for (let i = 0; i < this.#size; i++) {
      const entry = balancer.pickEntry(clientAddress);
      if (entry !== undefined && !tried.includes(entry.name)) return entry;
    }
    for (const entry of balancer.entries()) {
      if (!tried.includes(entry.name) && entry.available) return entry;
    }
    return undefined;
  }

  /** The combined health state of a backend (`healthy` without active checks). */
  healthOf(name: string): HealthState {
    return this.health?.stateOf(name) ?? 'healthy';
  }

  /** Stops the health checks and waits for probes in flight to close their sockets. */
  async close(): Promise<void> {
    await this.health?.[Symbol.asyncDispose]();
  }

  /** Same as {@link BackendSelector.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// Why: the routing stage. Each attempt of a request picks one upstream with the configured
// load-balancing policy, skipping those the health checker (active probes and passive outlier
// detection, as Envoy combines them) or the upstream's circuit breaker reports unavailable, and
// preferring upstreams the request has not tried yet (Envoy's "previous hosts" retry predicate).
// Everything here is built from the public API of @proxykit/load-balancer, health-check and
// circuit-breaker, as a user of those packages would.

import { KeyedCircuitBreaker } from '@proxykit/circuit-breaker';
import { type OutcomeClass } from '@proxykit/core';
import { HealthChecker, HttpProbe } from '@proxykit/health-check';
import { balancerByName, type LoadBalancer, type UpstreamEntry } from '@proxykit/load-balancer';
import type { ProxyConfig } from './proxy-config.js';
import type { BreakerStateLabel, UpstreamStatus } from './proxy-observer.js';

/** One configured upstream, as the router and the upstream client see it. */
export interface UpstreamTarget {
  /** The upstream's origin (`http://127.0.0.1:9000`), its name everywhere (metrics, status, breaker). */
  readonly name: string;
  /** `http` or `https`. */
  readonly scheme: 'http' | 'https';
  /** Host name or address to connect to (IPv6 without brackets). */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
  /** What the `Host` header becomes for this upstream (`host:port`, port omitted when default). */
  readonly hostHeader: string;
  /** Path prefix of the upstream URL without its trailing slash (`''` for none). */
  readonly basePath: string;
}

/**
 * Parses one upstream URL of {@link ProxyConfig.upstreams}.
 *
 * @throws RangeError naming `upstreams` when the URL is not an absolute http: or https: URL
 */
export function parseUpstreamUrl(value: string): UpstreamTarget {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RangeError(`upstreams: "${value}" is not an absolute http: or https: URL`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new RangeError(`upstreams: "${value}" is not an absolute http: or https: URL`);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new RangeError(`upstreams: "${value}" must not carry credentials, a query or a fragment`);
  }
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const port = url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  return { name: url.origin, scheme, host, port, hostHeader: url.host, basePath };
}

/**
 * Picks upstreams for attempts and keeps their health, breaker and in-flight state.
 * `pick` is synchronous and allocation-free; `begin`/`end` bracket each attempt.
 */
export class UpstreamSelector {
  /** The upstreams in configuration order. */
  readonly targets: readonly UpstreamTarget[];
  /** Active probes (when configured) and passive outlier detection. */
  readonly health: HealthChecker;
  /** One breaker per upstream name, when `circuitBreaker` is on. */
  readonly breakers: KeyedCircuitBreaker<string> | undefined;
  readonly #balancer: LoadBalancer<UpstreamTarget, string>;
  readonly #entries: readonly UpstreamEntry<UpstreamTarget>[];
  readonly #probed = new Set<string>();
  #firstRoundDone: boolean;
  // Upstreams the request being routed has already tried; read by the availability check below
  // during one synchronous pick only.
  #avoid: readonly UpstreamTarget[] | undefined = undefined;
  #avoidCount = 0;

  constructor(config: ProxyConfig, targets: readonly UpstreamTarget[]) {
    this.targets = targets;
    this.health = new HealthChecker({
      targets,
      passive: {},
      ...(config.healthCheck
        ? {
            active: {
              probe: new HttpProbe({ path: config.healthCheckPath }),
              intervalMs: config.healthCheckIntervalSecs * 1000,
              timeoutMs: Math.min(
                config.connectTimeoutMs + config.requestTimeoutMs,
                config.healthCheckIntervalSecs * 1000,
              ),
            },
          }
        : {}),
    });
    this.#firstRoundDone = !config.healthCheck;
    if (config.healthCheck) {
      this.health.active?.onProbe(({ upstream }) => {
        if (this.#firstRoundDone) return;
        this.#probed.add(upstream);
        if (this.#probed.size >= this.targets.length) this.#firstRoundDone = true;
      });
    }
    this.breakers = config.circuitBreaker
      ? new KeyedCircuitBreaker<string>({
          failureThreshold: config.circuitBreakerFailureThreshold,
          resetTimeoutMs: config.circuitBreakerOpenMs,
        })
      : undefined;
    const health = this.health;
    const breakers = this.breakers;
    const checks: ((upstream: UpstreamTarget) => boolean)[] = [
      (upstream) => health.isAvailable(upstream.name),
    ];
    if (breakers !== undefined) checks.push((upstream) => breakers.isAvailable(upstream.name));
    checks.push((upstream) => this.#notAvoided(upstream));
    // Maglev hashes what pick() receives: the client IP, so a client sticks to its upstream.
    this.#balancer = balancerByName<UpstreamTarget, string>(config.lb, {
      upstreams: targets,
      availability: checks,
    });
    this.#entries = targets.map((target) => {
      const entry = this.#balancer.get(target.name);
      if (entry === undefined) throw new RangeError(`upstreams: duplicate "${target.name}"`);
      return entry;
    });
    if (new Set(targets.map((target) => target.name)).size !== targets.length) {
      throw new RangeError('upstreams: each upstream must be listed once');
    }
  }

  /** Starts the active probes (if configured). */
  start(): void {
    this.health.start();
  }

  /** True once every upstream has been probed once (always true without active checks). */
  get firstRoundDone(): boolean {
    return this.#firstRoundDone;
  }

  /**
   * Picks an available upstream for an attempt, preferring one not among the first `triedCount`
   * of `tried`; `undefined` when none is available.
   *
   * @param clientIp the client's address (the hash key of `maglev`)
   */
  pick(
    clientIp: string,
    tried: readonly UpstreamTarget[] | undefined,
    triedCount: number,
  ): UpstreamEntry<UpstreamTarget> | undefined {
    if (triedCount === 0 || tried === undefined) return this.#balancer.pickEntry(clientIp);
    this.#avoid = tried;
    this.#avoidCount = triedCount;
    let entry: UpstreamEntry<UpstreamTarget> | undefined;
    try {
      entry = this.#balancer.pickEntry(clientIp);
    } finally {
      this.#avoid = undefined;
    }
    return entry ?? this.#balancer.pickEntry(clientIp);
  }

  /** Counts an attempt in flight on `entry`; pass the result to {@link UpstreamSelector.end}. */
  begin(entry: UpstreamEntry<UpstreamTarget>): number {
    return this.#balancer.begin(entry);
  }

  /** Ends an attempt begun with {@link UpstreamSelector.begin}. */
  end(entry: UpstreamEntry<UpstreamTarget>, startedAt: number): void {
    this.#balancer.end(entry, startedAt);
  }

  /** Reports an attempt's outcome to passive health checking. */
  report(target: UpstreamTarget, outcome: OutcomeClass): void {
    this.health.report(target.name, outcome);
  }

  /** True when at least one upstream is healthy and its breaker would admit a call. */
  anyAvailable(): boolean {
    for (const target of this.targets) {
      if (
        this.health.isAvailable(target.name) &&
        (this.breakers === undefined || this.breakers.isAvailable(target.name))
      ) {
        return true;
      }
    }
    return false;
  }

  /** A fresh snapshot of every upstream, in configuration order. */
  statuses(): UpstreamStatus[] {
    const breakers = this.breakers;
    return this.#entries.map((entry) => {
      const name = entry.upstream.name;
      let breaker: BreakerStateLabel = 'disabled';
      if (breakers !== undefined) {
        const state = breakers.stateOf(name);
        breaker = state === 'closed' ? 'closed' : state === 'half-open' ? 'half-open' : 'open';
      }
      return { name, healthy: this.health.isAvailable(name), breaker, inFlight: entry.inFlight };
    });
  }

  /** Stops probes and waits until those in flight have let go of their sockets. */
  async close(): Promise<void> {
    await this.health[Symbol.asyncDispose]();
  }

  #notAvoided(upstream: UpstreamTarget): boolean {
    const avoid = this.#avoid;
    if (avoid === undefined) return true;
    for (let i = 0; i < this.#avoidCount; i++) if (avoid[i] === upstream) return false;
    return true;
  }
}

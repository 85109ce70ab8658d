/**
 * Why: the seed's `HealthProbe` protocol (`probe(upstream) -> Result<(), Error>`), made
 * cancellable: an active checker must be able to cut a probe at its timeout and on shutdown, so
 * every probe takes an AbortSignal, as Envoy's and Kubernetes' probes are bounded by a timeout.
 * Targets are structural, keyed by `name`, so `@proxykit/upstream-pool`'s `Upstream` (or any
 * `{ name, host, port }`) can be checked without this package depending on it.
 */

/** Anything with a name: what availability hooks and status look-ups are keyed by. */
export interface Named {
  /** Unique name of the upstream; all health state is keyed by it. */
  readonly name: string;
}

/**
 * What an active probe checks: a named address. `Upstream` from `@proxykit/upstream-pool`
 * satisfies it as it is.
 */
export interface HealthTarget extends Named {
  /** Host name or IP address to connect to. */
  readonly host: string;
  /** TCP port to connect to. */
  readonly port: number;
  /** `'http'` (default) or `'https'` (a trailing `:` is allowed); used by the HTTP probe. */
  readonly scheme?: string | undefined;
}

/**
 * One way of asking an upstream whether it is healthy: HTTP, TCP connect, or anything else
 * (`SELECT 1` on a database).
 *
 * Implementations resolve when the upstream is healthy and reject with the reason when it is
 * not. They must honour `signal`: when it aborts (the checker's timeout, or the checker
 * stopping), they stop at once, release any socket, and reject with `signal.reason`.
 */
export interface HealthProbe {
  /** Checks `target` once; resolves if healthy, rejects with why not. */
  probe(target: HealthTarget, signal: AbortSignal): Promise<void>;
}

/**
 * A probe written as a plain async function. It may resolve with anything: a value carrying an
 * HTTP `status` or `statusCode` of 400 or more (a `fetch` Response, say) counts as a failure,
 * any other value as a success. See `CustomProbe`.
 */
export type ProbeFunction = (target: HealthTarget, signal: AbortSignal) => Promise<unknown>;

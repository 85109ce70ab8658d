/**
 * Why: programs configured from the environment or a file name their policy with a word
 * (`REVERSE_PROXY_LB=p2c`, `L4_LB=maglev`), in the spelling operators know from the original
 * proxies. Turning the word into a balancer belongs next to the balancers, once, so that every
 * program offers the same names with the same meaning.
 */
import type { HashKey } from './hash.js';
import type { LoadBalancer, LoadBalancerOptions } from './load-balancer.js';
import { Maglev } from './maglev.js';
import { PeakEwma } from './peak-ewma.js';
import { PowerOfTwoChoices } from './power-of-two-choices.js';
import { Random } from './random.js';
import { RoundRobin } from './round-robin.js';
import type { UpstreamLike } from './upstream-entry.js';
import { WeightedLeastConn } from './weighted-least-conn.js';

/** The policy names {@link balancerByName} knows, as configuration spells them. */
export const BALANCER_POLICIES = [
  'round_robin',
  'random',
  'least_conn',
  'p2c',
  'peak_ewma',
  'maglev',
] as const;

/** One of {@link BALANCER_POLICIES}. */
export type BalancerPolicy = (typeof BALANCER_POLICIES)[number];

/** Options of {@link balancerByName}: the balancers' shared options, plus Maglev's key. */
export interface BalancerByNameOptions<U extends UpstreamLike, Req> extends LoadBalancerOptions<U> {
  /**
   * For `maglev`: the hash key of a request (a client address). By default a string or number
   * request is its own key. Ignored by the other policies.
   */
  readonly key?: (request: Req) => HashKey | undefined;
}

/**
 * Creates the balancer a policy name stands for: `round_robin` ({@link RoundRobin}), `random`,
 * `least_conn` ({@link WeightedLeastConn}), `p2c` ({@link PowerOfTwoChoices}), `peak_ewma` and
 * `maglev` (consistent hashing of the request's key; slow start does not apply to it).
 *
 * @example
 * ```ts
 * const balancer = balancerByName<Upstream, string>(process.env.LB ?? 'round_robin', { upstreams });
 * ```
 * @throws RangeError naming the policy and the names allowed when `policy` is none of them
 */
export function balancerByName<U extends UpstreamLike, Req = unknown>(
  policy: string,
  options: BalancerByNameOptions<U, Req> = {},
): LoadBalancer<U, Req> {
  const { key, ...shared } = options;
  switch (policy as BalancerPolicy) {
    case 'round_robin':
      return new RoundRobin<U>(shared);
    case 'random':
      return new Random<U>(shared);
    case 'least_conn':
      return new WeightedLeastConn<U>(shared);
    case 'p2c':
      return new PowerOfTwoChoices<U>(shared);
    case 'peak_ewma':
      return new PeakEwma<U>(shared);
    case 'maglev': {
      const { slowStart: _unused, ...hashing } = shared;
      return new Maglev<U, Req>(key === undefined ? hashing : { ...hashing, key });
    }
    default:
      throw new RangeError(
        `balancerByName: policy must be one of ${BALANCER_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`,
      );
  }
}

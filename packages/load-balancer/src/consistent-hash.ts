/**
 * Why: caches, sticky sessions and sharded state want the same key (client IP, user, cookie) to
 * reach the same upstream, and only the keys of an upstream that leaves to move. Maglev and ring
 * hash share everything but their lookup structure: a key function, a deterministic build from
 * the members sorted by name (so two proxies with the same upstreams, learned in any order, route
 * a key alike — as Envoy does), and what to do when the owner of a key is unavailable: walk on
 * to the next entries of the table or ring (deterministic per key, so the key sticks to its
 * fallback too), and after a bounded walk scan the members in order.
 *
 * Slow start does not apply: the structure is built from configured weights, as in Envoy.
 */
import type { HashKey } from './hash.js';
import { LoadBalancerBase, type LoadBalancerOptions } from './load-balancer.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/** Table or ring entries tried after a key's own before scanning the members. */
export const HASH_WALK = 32;

/** Options shared by {@link Maglev} and {@link RingHash}. */
export interface ConsistentHashOptions<
  U extends UpstreamLike = UpstreamLike,
  Req = unknown,
> extends Omit<LoadBalancerOptions<U>, 'slowStart'> {
  /**
   * The key of a request: a client IP, a header, a cookie, a user id. By default a string or
   * number request is its own key (`maglev.pick('user-42')`). When the key is `undefined` (no
   * cookie yet) the pick is random.
   */
  readonly key?: (request: Req) => HashKey | undefined;
}

function defaultKey(request: unknown): HashKey | undefined {
  return typeof request === 'string' || typeof request === 'number' ? request : undefined;
}

/**
 * What {@link Maglev} and {@link RingHash} share: the key function, the members sorted by name,
 * and the fallback when a key's upstream is unavailable. Extend it for another structure.
 *
 * @typeParam Req what `pick` receives, from which `key` takes the hash key
 */
export abstract class ConsistentHashBalancer<
  U extends UpstreamLike = UpstreamLike,
  Req = unknown,
> extends LoadBalancerBase<U, Req> {
  /** The members sorted by name, as of the last build; structures index into it. */
  protected members: UpstreamEntry<U>[] = [];
  readonly #key: (request: Req) => HashKey | undefined;
  readonly #hash: (key: HashKey) => number;

  /**
   * @param owner the policy's name, for error messages
   * @param options the shared options
   * @param hash the key hash
   */
  protected constructor(
    owner: string,
    options: ConsistentHashOptions<U, Req>,
    hash: (key: HashKey) => number,
  ) {
    super(owner, options);
    this.#key = options.key ?? defaultKey;
    this.#hash = hash;
  }

  /** Sorts the members by name, then builds the structure. */
  protected override rebuild(): void {
    this.members = [...this.list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.build();
  }

  /** Hashes the request's key (a random hash when it has none) and looks it up. */
  protected select(request: Req | undefined, all: boolean): UpstreamEntry<U> | undefined {
    const key = request === undefined ? undefined : this.#key(request);
    const hash = key === undefined ? Math.floor(this.random() * 4294967296) : this.#hash(key);
    return this.lookup(hash, all);
  }

  /** Builds the structure from {@link members}. */
  protected abstract build(): void;

  /** The member for a 32-bit `hash`, walking past unavailable ones unless `all`. */
  protected abstract lookup(hash: number, all: boolean): UpstreamEntry<U> | undefined;

  /**
   * The first usable member after `home` (an index into {@link members}) in name order, for
   * keys whose walk found nothing; undefined when none is usable.
   */
  protected scanFrom(home: number, all: boolean): UpstreamEntry<U> | undefined {
    const members = this.members;
    const n = members.length;
    for (let step = 1; step <= n; step++) {
      const entry = members[(home + step) % n] as UpstreamEntry<U>;
      if (all || this.isUsable(entry)) return entry;
    }
    return undefined;
  }
}

/**
 * Why: the classic consistent hash — Ketama (libketama, memcached clients) and Envoy's RING_HASH:
 * every upstream places virtual nodes on a 32-bit ring at the hashes of `name_0`, `name_1`, …; a
 * key goes to the first node at or after its own hash. When an upstream leaves, only the keys on
 * its arcs move, to the next nodes on the ring. Compared with Maglev it needs no table rebuild
 * proportional to a fixed M and its disruption is exactly the leaving upstream's keys, but its
 * balance depends on the number of virtual nodes (±1/√replicas) and a pick is O(log ring size).
 *
 * Ring size: `replicas` virtual nodes per upstream of average weight (Ketama's 160 by default),
 * proportional to weight, at least one each, capped at `maxRingSize` (Envoy's 8 Mi).
 */
import { requireInteger } from '@proxykit/core';
import {
  ConsistentHashBalancer,
  type ConsistentHashOptions,
  HASH_WALK,
} from './consistent-hash.js';
import { type HashKey, hashKey, murmur3 } from './hash.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/** Member indices are packed below the hash in one float64 to sort points: 2^21 members at most. */
const INDEX_BITS = 2_097_152;

/** Options of {@link RingHash}. */
export interface RingHashOptions<
  U extends UpstreamLike = UpstreamLike,
  Req = unknown,
> extends ConsistentHashOptions<U, Req> {
  /** Virtual nodes per upstream of average weight, an integer in [1, 65536] (default 160, Ketama's). */
  readonly replicas?: number;
  /** Most virtual nodes on the ring, an integer in [1, 8388608] (default 8388608, Envoy's). */
  readonly maxRingSize?: number;
}

/**
 * Ketama-style consistent hashing on a ring of virtual nodes.
 *
 * @example
 * ```ts
 * const ring = new RingHash({ upstreams, key: (req: Request) => req.headers.get('x-user-id') ?? undefined });
 * ring.pick(request);
 * ```
 */
export class RingHash<
  U extends UpstreamLike = UpstreamLike,
  Req = unknown,
> extends ConsistentHashBalancer<U, Req> {
  /** Virtual nodes per upstream of average weight. */
  readonly replicas: number;
  /** Cap on the number of virtual nodes. */
  readonly maxRingSize: number;
  /** Point hashes, ascending. */
  #hashes: Uint32Array = new Uint32Array(0);
  /** Point owners: indices into `members`. */
  #owners: Int32Array = new Int32Array(0);

  /** @throws RangeError naming the first invalid option */
  constructor(options: RingHashOptions<U, Req> = {}) {
    super('RingHash', options, hashKey);
    this.replicas = requireInteger('RingHash', 'replicas', options.replicas ?? 160, 1, 65_536);
    this.maxRingSize = requireInteger(
      'RingHash',
      'maxRingSize',
      options.maxRingSize ?? 8_388_608,
      1,
      8_388_608,
    );
  }

  /** Number of virtual nodes on the ring now. */
  get ringSize(): number {
    this.refresh();
    return this.#hashes.length;
  }

  /**
   * The share of the hash space each upstream owns, by name: the share of keys it gets while
   * everything is available. For monitoring and tests.
   */
  shares(): Map<string, number> {
    this.refresh();
    const hashes = this.#hashes;
    const owners = this.#owners;
    const shares = new Map<string, number>(this.members.map((m) => [m.name, 0]));
    const points = hashes.length;
    for (let i = 0; i < points; i++) {
      // Point i owns the arc (previous point, point i].
      const previous =
        i === 0 ? (hashes[points - 1] as number) - 4294967296 : (hashes[i - 1] as number);
      const name = (this.members[owners[i] as number] as UpstreamEntry<U>).name;
      shares.set(name, (shares.get(name) ?? 0) + ((hashes[i] as number) - previous) / 4294967296);
    }
    return shares;
  }

  /** The upstream that owns `key` on the ring (ignoring availability), for tests and tools. */
  ownerOf(key: HashKey): U | undefined {
    this.refresh();
    if (this.#hashes.length === 0) return undefined;
    return this.members[this.#owners[this.#lowerBound(hashKey(key))] as number]?._upstream;
  }

  /** Places every member's virtual nodes and sorts the ring. */
  protected build(): void {
    const members = this.members;
    const n = members.length;
    if (n === 0 || n > INDEX_BITS) {
      this.#hashes = new Uint32Array(0);
      this.#owners = new Int32Array(0);
      return;
    }
    let totalWeight = 0;
    for (const member of members) totalWeight += member._weight;
    const wanted = Math.min(this.replicas * n, this.maxRingSize);
    const counts = new Int32Array(n);
    let points = 0;
    for (let i = 0; i < n; i++) {
      const share = (members[i] as UpstreamEntry<U>)._weight / totalWeight;
      const count = Math.max(1, Math.round(share * wanted));
      counts[i] = count;
      points += count;
    }
    const packed = new Float64Array(points);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const name = (members[i] as UpstreamEntry<U>).name;
      const count = counts[i] as number;
      for (let j = 0; j < count; j++)
        packed[k++] = murmur3(`${name}_${String(j)}`) * INDEX_BITS + i;
    }
    packed.sort();
    const hashes = new Uint32Array(points);
    const owners = new Int32Array(points);
    for (let p = 0; p < points; p++) {
      const value = packed[p] as number;
      const index = value % INDEX_BITS;
      owners[p] = index;
      hashes[p] = (value - index) / INDEX_BITS;
    }
    this.#hashes = hashes;
    this.#owners = owners;
  }

  /** The first point at or after `hash`'s owner, or the next available one walking the ring. */
  protected lookup(hash: number, all: boolean): UpstreamEntry<U> | undefined {
    const owners = this.#owners;
    const points = owners.length;
    const members = this.members;
    let point = this.#lowerBound(hash);
    const home = owners[point] ?? -1;
    for (let step = 0; step < HASH_WALK && step < points; step++) {
      const entry = members[owners[point] as number] as UpstreamEntry<U>;
      if (all || this.isUsable(entry)) return entry;
      point = point + 1 === points ? 0 : point + 1;
    }
    return this.scanFrom(home, all);
  }

  /** Index of the first point whose hash is >= `hash`, wrapping to 0 past the last. */
  #lowerBound(hash: number): number {
    const hashes = this.#hashes;
    let lo = 0;
    let hi = hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((hashes[mid] as number) < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === hashes.length ? 0 : lo;
  }
}

/**
 * Why: consistent hashing with O(1) lookups, near-perfect balance and minimal disruption — Google's
 * Maglev ("Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016, §3.4), also
 * Envoy's MAGLEV policy. Each upstream gets a permutation of the M table slots from two hashes of
 * its name (offset and skip, M prime); upstreams take turns claiming their next preferred free
 * slot until the table is full. With equal weights every upstream owns ⌊M/N⌋ or ⌈M/N⌉ slots, and
 * when one of N leaves only a little more than its own 1/N of the slots change hands. Weights
 * follow Envoy's weighted variant: an upstream claims a slot on a turn only when its accumulated
 * weight allows it.
 *
 * A pick hashes the key to a slot and returns its upstream; if that one is unavailable it walks to
 * the next slots (owned by other upstreams in pseudo-random order), so a key falls back
 * consistently. The table is rebuilt lazily after membership or weight changes: O(M log M) once.
 */
import { requireInteger } from '@proxykit/core';
import {
  ConsistentHashBalancer,
  type ConsistentHashOptions,
  HASH_WALK,
} from './consistent-hash.js';
import { type HashKey, hashKey, murmur3 } from './hash.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/** Seeds of the two name hashes (offset and skip). */
const OFFSET_SEED = 0x2545f491;
const SKIP_SEED = 0x9e3779b9;

/** Options of {@link Maglev}. */
export interface MaglevOptions<
  U extends UpstreamLike = UpstreamLike,
  Req = unknown,
> extends ConsistentHashOptions<U, Req> {
  /**
   * Table size M, a prime in [3, 5000011] (default 65537, Envoy's). The paper advises M ≥ 100 × N
   * upstreams for balance within 1 %; each pick is O(1) whatever M is, a build is O(M log M).
   */
  readonly tableSize?: number;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/**
 * Maglev consistent hashing: a lookup table of `tableSize` slots.
 *
 * @example
 * ```ts
 * const maglev = new Maglev({ upstreams, key: (req: IncomingMessage) => req.socket.remoteAddress });
 * maglev.pick(req); // the same client reaches the same upstream while it is available
 * ```
 */
export class Maglev<
  U extends UpstreamLike = UpstreamLike,
  Req = unknown,
> extends ConsistentHashBalancer<U, Req> {
  /** The table size M. */
  readonly tableSize: number;
  /** Slot → index into `members`; -1 when empty. */
  readonly #table: Int32Array;

  /** @throws RangeError naming the first invalid option (a `tableSize` that is not prime) */
  constructor(options: MaglevOptions<U, Req> = {}) {
    super('Maglev', options, hashKey);
    const size = requireInteger('Maglev', 'tableSize', options.tableSize ?? 65537, 3, 5_000_011);
    if (!isPrime(size)) {
      throw new RangeError(
        `Maglev: tableSize must be a prime in [3, 5000011], got ${String(size)}`,
      );
    }
    this.tableSize = size;
    this.#table = new Int32Array(size).fill(-1);
  }

  /**
   * The share of the table each upstream owns (slots / M), by name: the share of keys it gets
   * while everything is available. For monitoring and tests.
   */
  shares(): Map<string, number> {
    this.refresh();
    const counts = new Map<string, number>(this.members.map((m) => [m.name, 0]));
    for (const index of this.#table) {
      const member = this.members[index];
      if (member !== undefined) counts.set(member.name, (counts.get(member.name) ?? 0) + 1);
    }
    for (const [name, count] of counts) counts.set(name, count / this.tableSize);
    return counts;
  }

  /** The upstream that owns the slot of `key` (ignoring availability), for tests and tools. */
  ownerOf(key: HashKey): U | undefined {
    this.refresh();
    return this.members[this.#table[hashKey(key) % this.tableSize] as number]?._upstream;
  }

  /** Fills the table (Maglev's population, with Envoy's weights). */
  protected build(): void {
    const table = this.#table;
    const size = this.tableSize;
    const members = this.members;
    const n = members.length;
    table.fill(-1);
    if (n === 0) return;
    const next = new Int32Array(n); // each member's next preferred slot
    const skip = new Int32Array(n);
    const weight = new Float64Array(n);
    const target = new Float64Array(n);
    let maxWeight = 0;
    for (const member of members) maxWeight = Math.max(maxWeight, member._weight);
    // Two upstreams with the same skip walk the same cycle of slots and chase each other through
    // it, so any change elsewhere reshuffles their slots (a third of all keys, in tests). A skip
    // already taken by an upstream earlier in name order is rehashed with the next seed: the
    // result still depends only on the set of names, never on arrival order.
    const skips = new Set<number>();
    for (let i = 0; i < n; i++) {
      const member = members[i] as UpstreamEntry<U>;
      next[i] = murmur3(member.name, OFFSET_SEED) % size;
      let seed = SKIP_SEED;
      let s = (murmur3(member.name, seed) % (size - 1)) + 1;
      while (skips.has(s) && skips.size < size - 1) {
        seed = (seed + 1) | 0;
        s = (murmur3(member.name, seed) % (size - 1)) + 1;
      }
      skips.add(s);
      skip[i] = s;
      weight[i] = member._weight / maxWeight;
    }
    let filled = 0;
    for (let turn = 1; filled < size; turn++) {
      for (let i = 0; i < n && filled < size; i++) {
        const w = weight[i] as number;
        const t = target[i] as number;
        // A member of the largest weight claims a slot every turn, one of a third of it every
        // third turn, and so on.
        if (turn * w < t) continue;
        target[i] = t + 1;
        const step = skip[i] as number;
        let slot = next[i] as number;
        while ((table[slot] as number) >= 0) {
          slot += step;
          if (slot >= size) slot -= size;
        }
        table[slot] = i;
        slot += step;
        if (slot >= size) slot -= size;
        next[i] = slot;
        filled++;
      }
    }
  }

  /** The slot's upstream, or the next available one walking the table. */
  protected lookup(hash: number, all: boolean): UpstreamEntry<U> | undefined {
    const table = this.#table;
    const members = this.members;
    const size = this.tableSize;
    let slot = hash % size;
    const home = table[slot] as number;
    for (let step = 0; step < HASH_WALK; step++) {
      const entry = members[table[slot] as number];
      if (entry !== undefined && (all || this.isUsable(entry))) return entry;
      slot = slot + 1 === size ? 0 : slot + 1;
    }
    return this.scanFrom(home, all);
  }
}

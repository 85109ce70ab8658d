/**
 * Why: keyed state on a request path (a limiter per client, a breaker per upstream) needs a cap
 * with exact least-recently-used eviction at the cost of one hash lookup per call. The usual
 * JavaScript LRU — delete the key from a `Map` and set it again so that it moves to the end of the
 * insertion order — makes V8 rebuild the map's table every few calls, because each delete leaves
 * a hole: measured at 50–150 ns a call, more than a whole rate-limit decision. Here the map only
 * translates a key into a slot number, assigned once; the recency order is a doubly linked list
 * threaded through two `Int32Array`s, and the owner keeps each key's state in its own array at the
 * same slot. A hit moves the slot to the list's tail with a handful of array writes and touches
 * neither the map nor the heap; a new key takes a free slot or the head's (the least recently used
 * key's), so the map never exceeds the cap.
 */

const NONE = -1;

/**
 * Exact LRU index from keys to slots `0 … capacity − 1`, capped at `maxKeys`: keep each key's
 * state in an array of your own at its slot.
 *
 * @example
 * ```ts
 * const states: State[] = [];
 * const slots = new KeySlots<string>(10_000, () => undefined);
 * let slot = slots.touch(key);
 * if (slot === -1) {
 *   slot = slots.insert(key); // at the cap, the least recently used key's slot
 *   states[slot] = freshState();
 * }
 * ```
 */
export class KeySlots<K> {
  readonly #index = new Map<K, number>();
  readonly #maxKeys: number;
  readonly #onGrow: (capacity: number) => void;
  #keys: (K | undefined)[] = [];
  #prev: Int32Array;
  #next: Int32Array;
  /** Least recently used slot. */
  #head = NONE;
  /** Most recently used slot. */
  #tail = NONE;
  /** Slots freed by `delete`, reused before new ones. */
  #free: number[] = [];
  /** Slots handed out so far (used or free). */
  #used = 0;
  /** True when the last `insert` took the slot of an evicted key. */
  evicted = false;

  /**
   * @param maxKeys the cap
   * @param onGrow called with the new capacity before a slot beyond the old one is handed out
   */
  constructor(maxKeys: number, onGrow: (capacity: number) => void) {
    this.#maxKeys = maxKeys;
    this.#onGrow = onGrow;
    const initial = Math.min(maxKeys, 64);
    this.#prev = new Int32Array(initial);
    this.#next = new Int32Array(initial);
    onGrow(initial);
  }

  /** Keys tracked. */
  get size(): number {
    return this.#index.size;
  }

  /** The slot of `key` (made the most recently used), or -1. */
  touch(key: K): number {
    const slot = this.#index.get(key);
    if (slot === undefined) return NONE;
    if (slot !== this.#tail) {
      this.#unlink(slot);
      this.#append(slot);
    }
    return slot;
  }

  /** The slot of `key` without changing its recency, or -1. */
  peek(key: K): number {
    return this.#index.get(key) ?? NONE;
  }

  /**
   * Adds `key` (not present) as the most recently used and returns its slot. At the cap, the
   * least recently used key is forgotten and its slot reused: `evicted` is then true, and the
   * caller's state at that slot is still the evicted key's until the caller overwrites it.
   */
  insert(key: K): number {
    let slot: number;
    this.evicted = false;
    if (this.#index.size >= this.#maxKeys) {
      slot = this.#head;
      this.#unlink(slot);
      this.#index.delete(this.#keys[slot] as K);
      this.evicted = true;
    } else {
      slot = this.#free.pop() ?? this.#allocate();
    }
    this.#keys[slot] = key;
    this.#index.set(key, slot);
    this.#append(slot);
    return slot;
  }

  /** Forgets `key`; returns its freed slot, or -1 if it was not tracked. */
  delete(key: K): number {
    const slot = this.#index.get(key);
    if (slot === undefined) return NONE;
    this.#index.delete(key);
    this.#unlink(slot);
    this.#keys[slot] = undefined;
    this.#free.push(slot);
    return slot;
  }

  /** Forgets every key (keeps the allocated slots for reuse). */
  clear(): void {
    this.#index.clear();
    this.#keys = [];
    this.#free = [];
    this.#used = 0;
    this.#head = NONE;
    this.#tail = NONE;
  }

  /** Every tracked key and its slot, least recently used first. */
  *entries(): Generator<[K, number]> {
    for (let slot = this.#head; slot !== NONE;) {
      const next = this.#next[slot] ?? NONE;
      yield [this.#keys[slot] as K, slot];
      slot = next;
    }
  }

  #allocate(): number {
    const slot = this.#used++;
    if (slot >= this.#prev.length) {
      const capacity = Math.min(this.#maxKeys, this.#prev.length * 2);
      const prev = new Int32Array(capacity);
      const next = new Int32Array(capacity);
      prev.set(this.#prev);
      next.set(this.#next);
      this.#prev = prev;
      this.#next = next;
      this.#onGrow(capacity);
    }
    return slot;
  }

  #unlink(slot: number): void {
    const prev = this.#prev[slot] ?? NONE;
    const next = this.#next[slot] ?? NONE;
    if (prev === NONE) this.#head = next;
    else this.#next[prev] = next;
    if (next === NONE) this.#tail = prev;
    else this.#prev[next] = prev;
  }

  #append(slot: number): void {
    const tail = this.#tail;
    this.#prev[slot] = tail;
    this.#next[slot] = NONE;
    if (tail === NONE) this.#head = slot;
    else this.#next[tail] = slot;
    this.#tail = slot;
  }
}

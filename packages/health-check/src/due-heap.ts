/**
 * Why: the active checker runs ONE timer for all its upstreams, armed for the earliest moment
 * any of them needs attention (a probe due, a probe's deadline). With jitter those moments
 * arrive in no particular order, so they live in a binary min-heap: O(log n) to reschedule one
 * upstream, O(1) to find the next — where a timer per upstream would cost a timer object and a
 * kernel timer-list entry each, and a linear scan would cost O(n) per tick. Entries remember
 * their index, so an entry can be moved or removed without a search.
 */

/** @internal an item of a {@link DueHeap}: ordered by `dueAt`, ties by `seq` */
export interface DueItem {
  /** Clock time the item needs attention. */
  dueAt: number;
  /** Tie-breaker, unique per item: equal times keep a stable order. */
  readonly seq: number;
  /** Position in the heap, -1 when not in it. */
  heapIndex: number;
}

function before(a: DueItem, b: DueItem): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
}

/** @internal a binary min-heap of {@link DueItem}s with O(log n) update and removal */
export class DueHeap<T extends DueItem> {
  readonly #items: T[] = [];

  /** Number of items. */
  get size(): number {
    return this.#items.length;
  }

  /** The item due first, without removing it. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Inserts `item` due at `dueAt`, or moves it there if it is already in the heap. */
  schedule(item: T, dueAt: number): void {
    item.dueAt = dueAt;
    if (item.heapIndex === -1) {
      item.heapIndex = this.#items.length;
      this.#items.push(item);
      this.#up(item.heapIndex);
    } else {
      this.#up(item.heapIndex);
      this.#down(item.heapIndex);
    }
  }

  /** Removes `item` if it is in the heap; returns whether it was. */
  remove(item: T): boolean {
    const index = item.heapIndex;
    if (index === -1) return false;
    const last = this.#items.pop() as T;
    item.heapIndex = -1;
    if (last !== item) {
      this.#items[index] = last;
      last.heapIndex = index;
      this.#up(index);
      this.#down(last.heapIndex);
    }
    return true;
  }

  /** Removes and returns the item due first. */
  pop(): T | undefined {
    const first = this.#items[0];
    if (first !== undefined) this.remove(first);
    return first;
  }

  /** Removes every item. */
  clear(): void {
    for (const item of this.#items) item.heapIndex = -1;
    this.#items.length = 0;
  }

  #up(index: number): void {
    const items = this.#items;
    const item = items[index] as T;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex] as T;
      if (!before(item, parent)) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = item;
    item.heapIndex = index;
  }

  #down(index: number): void {
    const items = this.#items;
    const length = items.length;
    const item = items[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && before(items[right] as T, items[left] as T)) child = right;
      const candidate = items[child] as T;
      if (!before(candidate, item)) break;
      items[index] = candidate;
      candidate.heapIndex = index;
      index = child;
    }
    items[index] = item;
    item.heapIndex = index;
  }
}

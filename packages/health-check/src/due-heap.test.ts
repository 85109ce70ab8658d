import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { type DueItem, DueHeap } from './due-heap.js';

class Item implements DueItem {
  dueAt = 0;
  heapIndex = -1;
  constructor(readonly seq: number) {}
}

const operation = fc.oneof(
  fc.record({
    kind: fc.constant('schedule' as const),
    item: fc.nat(9),
    at: fc.integer({ min: 0, max: 50 }),
  }),
  fc.record({ kind: fc.constant('remove' as const), item: fc.nat(9) }),
  fc.record({ kind: fc.constant('pop' as const) }),
);

describe('DueHeap', () => {
  test.prop([fc.array(operation, { maxLength: 200 })], { numRuns: 300 })(
    'always yields the earliest item (ties by seq), as a sorted list would',
    (operations) => {
      const items = Array.from({ length: 10 }, (_, i) => new Item(i));
      const heap = new DueHeap<Item>();
      const model = new Map<Item, number>();
      const first = (): Item | undefined =>
        [...model.entries()].sort(([a, x], [b, y]) => x - y || a.seq - b.seq)[0]?.[0];
      for (const op of operations) {
        if (op.kind === 'schedule') {
          const item = items[op.item]!;
          heap.schedule(item, op.at);
          model.set(item, op.at);
        } else if (op.kind === 'remove') {
          const item = items[op.item]!;
          expect(heap.remove(item)).toBe(model.delete(item));
        } else {
          const expected = first();
          expect(heap.pop()).toBe(expected);
          if (expected !== undefined) model.delete(expected);
        }
        expect(heap.size).toBe(model.size);
        expect(heap.peek()).toBe(first());
        for (const item of items) expect(item.heapIndex !== -1).toBe(model.has(item));
      }
    },
  );

  it('clears every item', () => {
    const heap = new DueHeap<Item>();
    const a = new Item(0);
    heap.schedule(a, 3);
    heap.clear();
    expect(heap.size).toBe(0);
    expect(a.heapIndex).toBe(-1);
    expect(heap.pop()).toBeUndefined();
  });
});

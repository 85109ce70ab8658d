import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
import { VirtualClock } from './virtual-clock.js';

class Item extends DeadlineEntry {
  constructor(readonly id: number) {
    super();
  }
}

const operation = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), ttl: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ kind: fc.constant('pushForever' as const) }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('shift' as const) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 60 }) }),
);

describe('DeadlineQueue', () => {
  test.prop([fc.array(operation, { maxLength: 80 })])(
    'expires exactly the entries whose deadline passed, in deadline order, and matches a model',
    (ops) => {
      const clock = new VirtualClock();
      const expired: number[] = [];
      const queue = new DeadlineQueue<Item>(clock, (item) => {
        expect(item.deadline).toBeLessThanOrEqual(clock.now());
        expired.push(item.id);
      });
      let model: { id: number; deadline: number; item: Item }[] = [];
      const modelExpired: number[] = [];
      let nextId = 0;
      for (const op of ops) {
        if (op.kind === 'push' || op.kind === 'pushForever') {
          const item = new Item(nextId++);
          const deadline = op.kind === 'push' ? clock.now() + op.ttl : Infinity;
          queue.push(item, deadline);
          model.push({ id: item.id, deadline, item });
          model.sort((a, b) => a.deadline - b.deadline || a.id - b.id);
        } else if (op.kind === 'remove') {
          if (model.length === 0) continue;
          const victim = model[op.pick % model.length]!;
          expect(queue.remove(victim.item)).toBe(true);
          expect(queue.remove(victim.item)).toBe(false);
          model = model.filter((m) => m !== victim);
        } else if (op.kind === 'shift') {
          expect(queue.shift()?.id).toBe(model.shift()?.id);
        } else {
          const end = clock.now() + op.ms;
          const due = model.filter((m) => m.deadline <= end);
          modelExpired.push(...due.map((m) => m.id));
          model = model.filter((m) => m.deadline > end);
          clock.advance(op.ms);
        }
        expect(queue.size).toBe(model.length);
        expect(queue.first?.id).toBe(model[0]?.id);
      }
      expect(expired).toEqual(modelExpired);
      // One timer at most, and it never holds the process once nothing finite is queued.
      expect(clock.pendingTimers()).toBeLessThanOrEqual(1);
      if (!model.some((m) => m.deadline !== Infinity)) {
        expect(clock.pendingTimers({ referencedOnly: true })).toBeLessThanOrEqual(
          queue.size > 0 ? 1 : 0,
        );
      }
    },
  );

  it('refuses to queue an entry twice', () => {
    const queue = new DeadlineQueue<Item>(new VirtualClock(), () => undefined);
    const item = new Item(1);
    queue.push(item, 10);
    expect(() => {
      queue.push(item, 20);
    }).toThrow('already queued');
  });
});

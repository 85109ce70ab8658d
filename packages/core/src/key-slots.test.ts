import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { KeySlots } from './key-slots.js';

const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('use' as const), key: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peek' as const), key: fc.nat(40) }) },
);

describe('KeySlots', () => {
  test.prop([fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 400 })])(
    'evicts exactly as a reference LRU list does, and never gives two live keys one slot',
    (maxKeys, ops) => {
      let capacity = 0;
      const slots = new KeySlots<number>(maxKeys, (grown) => {
        expect(grown).toBeGreaterThan(capacity);
        capacity = grown;
      });
      const reference: number[] = []; // least recently used first
      const slotOf = new Map<number, number>();
      for (const { kind, key } of ops) {
        if (kind === 'peek') {
          expect(slots.peek(key)).toBe(slotOf.get(key) ?? -1);
          continue;
        }
        const at = reference.indexOf(key);
        if (kind === 'delete') {
          expect(slots.delete(key)).toBe(slotOf.get(key) ?? -1);
          if (at !== -1) reference.splice(at, 1);
          slotOf.delete(key);
          continue;
        }
        const touched = slots.touch(key);
        if (at !== -1) {
          expect(touched).toBe(slotOf.get(key));
          reference.splice(at, 1);
        } else {
          expect(touched).toBe(-1);
          const slot = slots.insert(key);
          expect(slots.evicted).toBe(reference.length === maxKeys);
          if (reference.length === maxKeys) {
            const evicted = reference.shift()!;
            expect(slot).toBe(slotOf.get(evicted)); // the least recently used key's slot
            slotOf.delete(evicted);
          }
          expect(slot).toBeLessThan(capacity);
          slotOf.set(key, slot);
        }
        reference.push(key);
        expect(new Set(slotOf.values()).size).toBe(slotOf.size);
        expect(slots.size).toBe(reference.length);
      }
      expect([...slots.entries()].map(([key]) => key)).toEqual(reference);
      expect(capacity).toBeLessThanOrEqual(maxKeys);
    },
  );

  it('forgets everything on clear and hands slots out again', () => {
    const slots = new KeySlots<string>(2, () => undefined);
    slots.insert('a');
    slots.insert('b');
    slots.clear();
    expect(slots.size).toBe(0);
    expect(slots.touch('a')).toBe(-1);
    expect(slots.insert('c')).toBe(0);
    expect([...slots.entries()]).toEqual([['c', 0]]);
  });
});

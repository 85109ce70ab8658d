import { describe, expect, it } from 'vitest';
import { VirtualClock } from './virtual-clock.js';

describe('VirtualClock', () => {
  it('fires timers in deadline order with now() at each deadline', () => {
    const clock = new VirtualClock(1_000);
    const fired: [string, number][] = [];
    clock.setTimer(() => fired.push(['b', clock.now()]), 20);
    clock.setTimer(() => fired.push(['a', clock.now()]), 10);
    clock.setTimer(() => fired.push(['a2', clock.now()]), 10);
    clock.advance(15);
    expect(fired).toEqual([
      ['a', 1_010],
      ['a2', 1_010],
    ]);
    clock.advance(100);
    expect(fired.at(-1)).toEqual(['b', 1_020]);
    expect(clock.now()).toBe(1_115);
  });

  it('fires timers created by callbacks within the same advance', () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    clock.setTimer(() => {
      fired.push(clock.now());
      clock.setTimer(() => fired.push(clock.now()), 5);
    }, 5);
    clock.advance(10);
    expect(fired).toEqual([5, 10]);
  });

  it('does not fire cancelled timers and counts only live ones', () => {
    const clock = new VirtualClock();
    const timer = clock.setTimer(() => {
      throw new Error('must not fire');
    }, 5);
    const other = clock.setTimer(() => undefined, 50);
    other.unref();
    expect(clock.pendingTimers()).toBe(2);
    expect(clock.pendingTimers({ referencedOnly: true })).toBe(1);
    timer.cancel();
    clock.advance(10);
    expect(clock.pendingTimers()).toBe(1);
  });

  it('lets promise reactions run between timers with advanceAsync', async () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    void new Promise<void>((resolve) => clock.setTimer(resolve, 1)).then(() =>
      order.push('reaction'),
    );
    clock.setTimer(() => order.push('second timer'), 2);
    await clock.advanceAsync(5);
    expect(order).toEqual(['reaction', 'second timer']);
  });

  it('refuses to go back in time', () => {
    expect(() => {
      new VirtualClock().advance(-1);
    }).toThrow(RangeError);
  });
});

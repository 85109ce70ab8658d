import { describe, expect, it } from 'vitest';
import { delay } from './delay.js';
import { VirtualClock } from './virtual-clock.js';

describe('delay', () => {
  it('resolves after the given virtual time and leaves no timer', async () => {
    const clock = new VirtualClock();
    let done = false;
    const waiting = delay(100, { clock }).then(() => (done = true));
    clock.advance(99);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await waiting;
    expect(done).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('rejects with the abort reason at once and cancels its timer', async () => {
    const clock = new VirtualClock();
    const controller = new AbortController();
    const waiting = delay(1_000, { clock, signal: controller.signal });
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('rejects immediately for an already aborted signal', async () => {
    await expect(delay(10, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('works on the real clock', async () => {
    const started = performance.now();
    await delay(5);
    expect(performance.now() - started).toBeGreaterThanOrEqual(4);
  });
});

import { describe, expect, it } from 'vitest';
import { NEVER_ABORTED } from './abort.js';
import { createContext, createContextKey, rootContext } from './context.js';

describe('CallContext', () => {
  it('defaults to the root context: attempt 1, a signal that never aborts', () => {
    expect(createContext()).toBe(rootContext);
    expect(rootContext.attempt).toBe(1);
    expect(rootContext.signal).toBe(NEVER_ABORTED);
    expect(rootContext.signal.aborted).toBe(false);
  });

  it('carries typed values to children without changing the parent', () => {
    const USER = createContextKey<string>('user');
    const TRIES = createContextKey<number>('tries');
    const parent = createContext().with(USER, 'ada');
    const child = parent.with(TRIES, 3).with(USER, 'grace');
    expect(parent.get(USER)).toBe('ada');
    expect(parent.get(TRIES)).toBeUndefined();
    expect(child.get(USER)).toBe('grace');
    expect(child.get(TRIES)).toBe(3);
  });

  it('keys with the same description never collide', () => {
    const a = createContextKey<string>('same');
    const b = createContextKey<string>('same');
    const ctx = rootContext.with(a, 'A');
    expect(ctx.get(a)).toBe('A');
    expect(ctx.get(b)).toBeUndefined();
  });

  it('withSignal and withAttempt keep the values', () => {
    const KEY = createContextKey<string>('k');
    const controller = new AbortController();
    const ctx = createContext({ signal: controller.signal, attempt: 2 }).with(KEY, 'v');
    const next = ctx.withAttempt(3).withSignal(NEVER_ABORTED);
    expect(ctx.signal).toBe(controller.signal);
    expect(ctx.attempt).toBe(2);
    expect(next.attempt).toBe(3);
    expect(next.signal).toBe(NEVER_ABORTED);
    expect(next.get(KEY)).toBe('v');
  });
});

import { describe, expect, it } from 'vitest';
import { MAX_RESTARTS, RESTART_WINDOW_MS, RestartBudget } from './workers.js';

describe('RestartBudget', () => {
  it('allows a few restarts per window, then refuses until the window moves on', () => {
    const budget = new RestartBudget(3, 1_000);
    expect([0, 10, 20].map((t) => budget.tryRestart(t))).toEqual([true, true, true]);
    expect(budget.tryRestart(999)).toBe(false);
    // The first restart leaves the window at 1000 ms.
    expect(budget.tryRestart(1_000)).toBe(true);
    expect(budget.tryRestart(1_001)).toBe(false);
    expect(budget.tryRestart(1_020)).toBe(true);
  });

  it('defaults to MAX_RESTARTS per RESTART_WINDOW_MS', () => {
    const budget = new RestartBudget();
    for (let i = 0; i < MAX_RESTARTS; i++) expect(budget.tryRestart(i)).toBe(true);
    expect(budget.tryRestart(MAX_RESTARTS)).toBe(false);
    expect(budget.tryRestart(RESTART_WINDOW_MS)).toBe(true);
  });

  it('refuses everything with a budget of zero, and validates its options', () => {
    expect(new RestartBudget(0, 1).tryRestart(0)).toBe(false);
    expect(() => new RestartBudget(-1)).toThrow(/max/);
    expect(() => new RestartBudget(1, 0)).toThrow(/windowMs/);
  });
});

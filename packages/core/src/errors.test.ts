import { describe, expect, it } from 'vitest';
import {
  BrokenCircuitError,
  NoHealthyUpstreamError,
  OverloadedError,
  PROXYKIT_ERROR,
  PoolTimeoutError,
  RateLimitedError,
  RetryBudgetExhaustedError,
  TimeoutError,
  isBrokenCircuitError,
  isNoHealthyUpstreamError,
  isOverloadedError,
  isPoolTimeoutError,
  isProxykitError,
  isRateLimitedError,
  isRetryBudgetExhaustedError,
  isTimeoutError,
} from './errors.js';

const cases = [
  [new TimeoutError(100), isTimeoutError, 'timeout', 'TimeoutError'],
  [new OverloadedError('full'), isOverloadedError, 'overloaded', 'OverloadedError'],
  [new BrokenCircuitError(250), isBrokenCircuitError, 'overloaded', 'BrokenCircuitError'],
  [new RateLimitedError(12.5), isRateLimitedError, 'overloaded', 'RateLimitedError'],
  [new NoHealthyUpstreamError(3), isNoHealthyUpstreamError, 'overloaded', 'NoHealthyUpstreamError'],
  [new PoolTimeoutError(500), isPoolTimeoutError, 'overloaded', 'PoolTimeoutError'],
  [
    new RetryBudgetExhaustedError(new Error('503')),
    isRetryBudgetExhaustedError,
    'overloaded',
    'RetryBudgetExhaustedError',
  ],
] as const;

describe('proxykit errors', () => {
  it.each(cases)(
    '%s has its category, name and a guard that recognises only it',
    (error, guard, category, name) => {
      expect(error).toBeInstanceOf(Error);
      expect(error.category).toBe(category);
      expect(error.name).toBe(name);
      expect(String(error)).toMatch(new RegExp(`^${name}: `));
      expect(isProxykitError(error)).toBe(true);
      for (const [other] of cases) expect(guard(other)).toBe(other === error);
      expect(guard(new Error('plain'))).toBe(false);
      expect(guard(null)).toBe(false);
    },
  );

  it('recognises errors from another copy of the package by their brand', () => {
    const foreign = Object.assign(Object.create(Error.prototype) as Error, {
      [PROXYKIT_ERROR]: true,
      code: 'PROXYKIT_TIMEOUT',
      category: 'timeout',
    });
    expect(isTimeoutError(foreign)).toBe(true);
  });

  it('carries the data callers need', () => {
    expect(new BrokenCircuitError(250).retryAfterMs).toBe(250);
    expect(new BrokenCircuitError(Infinity, true).message).toBe('Circuit is isolated');
    expect(new RateLimitedError(12.5).message).toBe('Rate limited; retry after 13 ms');
    const cause = new Error('503');
    expect(new RetryBudgetExhaustedError(cause).cause).toBe(cause);
  });

  it('skips the stack trace on hot-path rejections but keeps it when asked', () => {
    expect(new RateLimitedError(1).stack).toBe('RateLimitedError: Rate limited; retry after 1 ms');
    expect(new RateLimitedError(1, { stack: true }).stack).toMatch(/errors\.test\.ts/);
    expect(Error.stackTraceLimit).toBeGreaterThan(0);
  });
});

import { defaultClassifier, isFailure, isProxykitError, PROXYKIT_ERROR } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { isPoolClosedError, PoolClosedError } from './pool-errors.js';

describe('PoolClosedError', () => {
  it('is a branded, permanent proxykit error without a stack', () => {
    const error = new PoolClosedError();
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('PoolClosedError');
    expect(error.code).toBe('PROXYKIT_POOL_CLOSED');
    expect(error.category).toBe('permanent');
    expect(error.message).toBe('Upstream pool: the pool is closed');
    expect(error.stack).toBe('PoolClosedError: Upstream pool: the pool is closed');
    expect(isProxykitError(error)).toBe(true);
    expect(isPoolClosedError(error)).toBe(true);
    expect(isPoolClosedError(new Error('closed'))).toBe(false);
    expect(isPoolClosedError(null)).toBe(false);
  });

  it('is not a failure to breakers and retries', () => {
    const outcome = defaultClassifier.classifyError(new PoolClosedError('upstream removed'));
    expect(outcome).toBe('permanent');
    expect(isFailure(outcome)).toBe(false);
  });

  it('is recognised across copies of the package by its brand', () => {
    const foreign = Object.assign(Object.create(Error.prototype) as Error, {
      [PROXYKIT_ERROR]: true,
      code: 'PROXYKIT_POOL_CLOSED',
    });
    expect(isPoolClosedError(foreign)).toBe(true);
  });
});

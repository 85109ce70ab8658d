import { fc, test } from '@fast-check/vitest';
import {
  BrokenCircuitError,
  defaultClassifier,
  ERROR_CATEGORIES,
  type OutcomeClass,
  RateLimitedError,
} from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { errorOutcome, isRetryableByDefault, resultOutcome } from './retry-outcome.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const CAP = 1000;

function ofResult(result: unknown) {
  return resultOutcome(result, defaultClassifier.classifyResult(result), 1, NOW);
}

function ofError(error: unknown, signal?: AbortSignal) {
  return errorOutcome(error, defaultClassifier.classifyError(error, signal), 1, NOW);
}

function coded(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe('errorOutcome / resultOutcome', () => {
  it('carries the status and the Retry-After of a 429 or 503 result', () => {
    const outcome = ofResult({ status: 503, headers: { 'Retry-After': '1' } });
    expect(outcome).toMatchObject({
      kind: 'result',
      outcomeClass: 'upstream',
      status: 503,
      retryAfterMs: 1000,
      attempt: 1,
    });
    expect(
      ofResult({ statusCode: 429, headers: new Headers({ 'retry-after': '2' }) }).retryAfterMs,
    ).toBe(2000);
  });

  it('ignores Retry-After on other statuses', () => {
    expect(ofResult({ status: 502, headers: { 'retry-after': '1' } }).retryAfterMs).toBeUndefined();
  });

  it("reads core errors' retryAfterMs, and a thrown 429's headers", () => {
    expect(ofError(new RateLimitedError(250)).retryAfterMs).toBe(250);
    expect(ofError(new BrokenCircuitError(5000)).retryAfterMs).toBe(5000);
    const thrown = Object.assign(new Error('Too Many Requests'), {
      status: 429,
      headers: { 'retry-after': '1' },
    });
    expect(ofError(thrown)).toMatchObject({
      kind: 'error',
      outcomeClass: 'overloaded',
      status: 429,
      retryAfterMs: 1000,
    });
    expect(
      ofError(Object.assign(new Error('x'), { retryAfterMs: -1 })).retryAfterMs,
    ).toBeUndefined();
    expect(ofError('a string').retryAfterMs).toBeUndefined();
  });
});

describe('isRetryableByDefault', () => {
  it.each([
    ['ECONNRESET', coded('ECONNRESET')],
    ['ECONNREFUSED', coded('ECONNREFUSED')],
    ['ETIMEDOUT', coded('ETIMEDOUT')],
    ['an unrecognised error', new Error('boom')],
  ])('retries %s', (_name, error) => {
    expect(isRetryableByDefault(ofError(error), CAP)).toBe(true);
  });

  it.each([502, 503, 504])('retries a %d result', (status) => {
    expect(isRetryableByDefault(ofResult({ status }), CAP)).toBe(true);
  });

  it.each([400, 401, 403, 404, 407, 409, 422, 500, 501])('never retries a %d result', (status) => {
    expect(isRetryableByDefault(ofResult({ status }), CAP)).toBe(false);
  });

  it('never retries ENOTFOUND (permanent) nor a caller abort', () => {
    expect(isRetryableByDefault(ofError(coded('ENOTFOUND')), CAP)).toBe(false);
    const controller = new AbortController();
    controller.abort();
    expect(isRetryableByDefault(ofError(new Error('x'), controller.signal), CAP)).toBe(false);
    expect(isRetryableByDefault(ofError(new DOMException('stop', 'AbortError')), CAP)).toBe(false);
  });

  it('never retries proxykit protective rejections', () => {
    expect(isRetryableByDefault(ofError(new BrokenCircuitError(10)), CAP)).toBe(false);
    expect(isRetryableByDefault(ofError(new RateLimitedError(10)), CAP)).toBe(false);
  });

  it('retries a 429 only with a Retry-After within the cap', () => {
    expect(isRetryableByDefault(ofResult({ status: 429 }), CAP)).toBe(false);
    expect(
      isRetryableByDefault(ofResult({ status: 429, headers: { 'retry-after': '1' } }), CAP),
    ).toBe(true);
    expect(
      isRetryableByDefault(ofResult({ status: 429, headers: { 'retry-after': '2' } }), CAP),
    ).toBe(false);
    expect(
      isRetryableByDefault(ofResult({ status: 429, headers: { 'retry-after': 'soon' } }), CAP),
    ).toBe(false);
  });

  test.prop([fc.constantFrom<OutcomeClass>('success', 'cancelled', ...ERROR_CATEGORIES)])(
    'without a 429 it is exactly core isFailure: transient, upstream, timeout',
    (outcomeClass) => {
      const outcome = errorOutcome(new Error('x'), outcomeClass, 1, NOW);
      expect(isRetryableByDefault(outcome, CAP)).toBe(
        outcomeClass === 'transient' || outcomeClass === 'upstream' || outcomeClass === 'timeout',
      );
    },
  );
});

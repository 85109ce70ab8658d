import { describe, expect, it } from 'vitest';
import { classifyStatus, defaultClassifier, isFailure, type OutcomeClass } from './classifier.js';
import { BrokenCircuitError, RateLimitedError, TimeoutError } from './errors.js';

function codeError(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}

describe('defaultClassifier.classifyError', () => {
  it.each([
    ['ECONNRESET', 'transient'],
    ['EPIPE', 'transient'],
    ['EAI_AGAIN', 'transient'],
    ['ECONNREFUSED', 'upstream'],
    ['EHOSTUNREACH', 'upstream'],
    ['ENETUNREACH', 'upstream'],
    ['ETIMEDOUT', 'timeout'],
    ['UND_ERR_CONNECT_TIMEOUT', 'timeout'],
    ['ENOTFOUND', 'permanent'],
  ] as const)('classifies network code %s as %s', (code, expected) => {
    expect(defaultClassifier.classifyError(codeError(code))).toBe(expected);
  });

  it('looks through the cause chain (undici fetch wraps network errors in TypeError)', () => {
    const error = new TypeError('fetch failed', { cause: codeError('ECONNREFUSED') });
    expect(defaultClassifier.classifyError(error)).toBe('upstream');
  });

  it('uses the category of proxykit errors', () => {
    expect(defaultClassifier.classifyError(new TimeoutError(10))).toBe('timeout');
    expect(defaultClassifier.classifyError(new BrokenCircuitError(5))).toBe('overloaded');
    expect(defaultClassifier.classifyError(new RateLimitedError(5))).toBe('overloaded');
  });

  it('treats the caller abort as cancelled, whatever was thrown', () => {
    const controller = new AbortController();
    controller.abort();
    expect(defaultClassifier.classifyError(codeError('ECONNRESET'), controller.signal)).toBe(
      'cancelled',
    );
    expect(defaultClassifier.classifyError(new DOMException('aborted', 'AbortError'))).toBe(
      'cancelled',
    );
  });

  it('treats a signal aborted by a deadline as a timeout, not a cancellation', () => {
    const controller = new AbortController();
    controller.abort(new TimeoutError(100));
    const thrown = new DOMException('aborted', 'AbortError');
    expect(defaultClassifier.classifyError(thrown, controller.signal)).toBe('timeout');
    const platform = new AbortController();
    platform.abort(new DOMException('signal timed out', 'TimeoutError'));
    expect(defaultClassifier.classifyError(thrown, platform.signal)).toBe('timeout');
  });

  it('treats platform timeouts (AbortSignal.timeout) as timeout', () => {
    expect(defaultClassifier.classifyError(new DOMException('t', 'TimeoutError'))).toBe('timeout');
  });

  it('classifies errors that carry an HTTP status by that status', () => {
    expect(defaultClassifier.classifyError(Object.assign(new Error('x'), { status: 503 }))).toBe(
      'upstream',
    );
    expect(
      defaultClassifier.classifyError(Object.assign(new Error('x'), { statusCode: 404 })),
    ).toBe('client');
  });

  it('counts unrecognised errors as upstream failures', () => {
    expect(defaultClassifier.classifyError(new Error('Connection terminated unexpectedly'))).toBe(
      'upstream',
    );
    expect(defaultClassifier.classifyError('a string')).toBe('upstream');
  });
});

describe('defaultClassifier.classifyResult', () => {
  it.each([
    [200, 'success'],
    [204, 'success'],
    [301, 'success'],
    [400, 'client'],
    [401, 'security'],
    [403, 'security'],
    [404, 'client'],
    [429, 'overloaded'],
    [500, 'permanent'],
    [502, 'upstream'],
    [503, 'upstream'],
    [504, 'upstream'],
  ] as const)('classifies status %i as %s', (status, expected) => {
    expect(defaultClassifier.classifyResult({ status })).toBe(expected);
    expect(defaultClassifier.classifyResult({ statusCode: status })).toBe(expected);
    expect(classifyStatus(status)).toBe(expected);
  });

  it('treats values without a numeric status as success', () => {
    for (const value of [undefined, null, 1, 'x', { rows: [] }, { status: 'ok' }]) {
      expect(defaultClassifier.classifyResult(value)).toBe('success');
    }
  });
});

describe('isFailure', () => {
  it('is true exactly for transient, upstream and timeout', () => {
    const all: OutcomeClass[] = [
      'success',
      'cancelled',
      'transient',
      'upstream',
      'timeout',
      'overloaded',
      'client',
      'permanent',
      'security',
    ];
    expect(all.filter(isFailure)).toEqual(['transient', 'upstream', 'timeout']);
  });
});

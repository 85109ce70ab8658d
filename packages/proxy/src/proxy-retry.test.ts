import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROXY_CONFIG, type ProxyConfig } from './proxy-config.js';
import { RetryPolicy, wasNeverSent } from './proxy-retry.js';

function policy(overrides: Partial<ProxyConfig> = {}): RetryPolicy {
  return new RetryPolicy({ ...DEFAULT_PROXY_CONFIG, ...overrides });
}

describe('RetryPolicy', () => {
  it('retries idempotent methods with a replayable body', () => {
    const retry = policy();
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'get']) {
      expect(retry.verdict(method, true, false, 1, 10_000), method).toBe('retry');
    }
  });

  it('never retries a non-idempotent request that was sent, nor a streamed body', () => {
    const retry = policy();
    expect(retry.verdict('POST', true, false, 1, 10_000)).toBe('unsafe');
    expect(retry.verdict('PATCH', true, false, 1, 10_000)).toBe('unsafe');
    expect(retry.verdict('GET', false, false, 1, 10_000)).toBe('unsafe');
    expect(retry.verdict('PUT', false, true, 1, 10_000)).toBe('unsafe');
  });

  it('lets a POST go elsewhere when it never reached the upstream', () => {
    expect(policy().verdict('POST', true, true, 1, 10_000)).toBe('retry');
  });

  it('stops at retryMaxAttempts and before the deadline', () => {
    const retry = policy({ retryMaxAttempts: 2 });
    expect(retry.verdict('GET', true, false, 2, 10_000)).toBe('max-attempts');
    expect(policy({ retryMaxAttempts: 1 }).verdict('GET', true, false, 1, 10_000)).toBe(
      'max-attempts',
    );
    expect(retry.verdict('GET', true, false, 1, 0)).toBe('deadline');
  });

  it('is refused by the budget once retries exceed their share', () => {
    const retry = policy({ retryBudgetPercent: 1 });
    let verdict = 'retry';
    let granted = 0;
    while (verdict === 'retry' && granted < 1_000) {
      verdict = retry.verdict('GET', true, false, 1, 10_000);
      if (verdict === 'retry') granted++;
    }
    expect(verdict).toBe('budget');
    expect(granted).toBeGreaterThan(0); // the minimum retries per second
  });

  test.prop([fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 5_000 })])(
    'waits between the base and the cap',
    (base, extra) => {
      const retry = policy({ retryBackoffBaseMs: base, retryBackoffMaxMs: base + extra });
      let previous = 0;
      for (let i = 0; i < 8; i++) {
        const wait = retry.backoffMs(previous);
        expect(wait).toBeGreaterThanOrEqual(base);
        expect(wait).toBeLessThanOrEqual(base + extra);
        previous = wait;
      }
    },
  );
});

describe('wasNeverSent', () => {
  it('is true for connect failures only', () => {
    expect(wasNeverSent(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(wasNeverSent(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }))).toBe(
      true,
    );
    expect(wasNeverSent(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(false);
    expect(wasNeverSent(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }))).toBe(false);
    expect(wasNeverSent(new Error('x'))).toBe(false);
    expect(wasNeverSent(undefined)).toBe(false);
  });
});

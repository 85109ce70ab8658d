import { describe, expect, it } from 'vitest';
import { combineObservers, type ProxyObserver } from './proxy-observer.js';

function recording(log: string[], name: string): ProxyObserver {
  return {
    requestStarted: () => log.push(`${name} started`),
    requestFinished: (r) => log.push(`${name} finished ${String(r.status)}`),
    upstreamAttempt: (a) => log.push(`${name} attempt ${a.upstream}`),
    retried: (u) => log.push(`${name} retried ${u}`),
    retryBudgetExhausted: () => log.push(`${name} budget`),
    rateLimited: () => log.push(`${name} limited`),
    backpressureRejected: () => log.push(`${name} backpressure`),
  };
}

describe('combineObservers', () => {
  it('tells every observer every event, in order', () => {
    const log: string[] = [];
    const both = combineObservers([recording(log, 'a'), recording(log, 'b')]);
    both.requestStarted();
    both.upstreamAttempt({ upstream: 'u', status: 200, failed: false, durationSeconds: 0 });
    both.retried('u');
    both.retryBudgetExhausted();
    both.rateLimited();
    both.backpressureRejected();
    both.requestFinished({
      method: 'GET',
      path: '/',
      status: 200,
      durationSeconds: 0,
      upstream: 'u',
      attempts: 1,
      clientIp: '127.0.0.1',
      traceId: 't',
      bytesSent: 0,
      truncated: false,
    });
    expect(log).toEqual([
      'a started',
      'b started',
      'a attempt u',
      'b attempt u',
      'a retried u',
      'b retried u',
      'a budget',
      'b budget',
      'a limited',
      'b limited',
      'a backpressure',
      'b backpressure',
      'a finished 200',
      'b finished 200',
    ]);
  });

  it('returns a lone observer itself', () => {
    const only = recording([], 'a');
    expect(combineObservers([only])).toBe(only);
  });
});

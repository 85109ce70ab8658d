import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  type HealthStatus,
  initialHealthStatus,
  type ProbeResult,
  recordProbe,
} from './health-status.js';

/** The rise/fall rule written as plainly as possible: replay the results, remember the run. */
function model(
  initial: 'healthy' | 'unhealthy',
  results: readonly ProbeResult[],
  healthyThreshold: number,
  unhealthyThreshold: number,
): { state: 'healthy' | 'unhealthy'; run: number; last: ProbeResult | undefined }[] {
  let state = initial;
  let run = 0;
  let last: ProbeResult | undefined;
  const trace = [];
  for (const result of results) {
    run = result === last ? run + 1 : 1;
    last = result;
    if (result === 'success' && run === healthyThreshold) state = 'healthy';
    if (result === 'failure' && run === unhealthyThreshold) state = 'unhealthy';
    trace.push({ state, run, last });
  }
  return trace;
}

const thresholds = fc.record({
  healthyThreshold: fc.integer({ min: 1, max: 6 }),
  unhealthyThreshold: fc.integer({ min: 1, max: 6 }),
});
const results = fc.array(fc.constantFrom<ProbeResult>('success', 'failure'), { maxLength: 120 });
const initial = fc.constantFrom<'healthy' | 'unhealthy'>('healthy', 'unhealthy');

describe('recordProbe (the rise/fall state machine)', () => {
  test.prop([thresholds, initial, results], { numRuns: 500 })(
    'follows the reference model result by result',
    (t, start, sequence) => {
      const expected = model(start, sequence, t.healthyThreshold, t.unhealthyThreshold);
      let status: HealthStatus = initialHealthStatus(start);
      sequence.forEach((result, i) => {
        const error = result === 'failure' ? new Error(`failure ${i}`) : undefined;
        status = recordProbe(status, result, t, i, error);
        const step = expected[i];
        expect(status.state).toBe(step?.state);
        expect(status.healthy).toBe(step?.state === 'healthy');
        expect(status.lastResult).toBe(result);
        expect(status.lastProbeAt).toBe(i);
        expect(status.lastError).toBe(error);
        expect(status.consecutiveSuccesses).toBe(result === 'success' ? step?.run : 0);
        expect(status.consecutiveFailures).toBe(result === 'failure' ? step?.run : 0);
      });
    },
  );

  test.prop([thresholds, initial, results], { numRuns: 500 })(
    'flips only on exactly the threshold-th result of a run, and only towards that result',
    (t, start, sequence) => {
      let status: HealthStatus = initialHealthStatus(start);
      for (const result of sequence) {
        const next = recordProbe(status, result, t, 0);
        if (next.state !== status.state) {
          if (next.state === 'unhealthy') {
            expect(result).toBe('failure');
            expect(next.consecutiveFailures).toBe(t.unhealthyThreshold);
          } else {
            expect(result).toBe('success');
            expect(next.consecutiveSuccesses).toBe(t.healthyThreshold);
          }
        }
        status = next;
      }
    },
  );

  it('does not change the status it is given', () => {
    const before = Object.freeze(initialHealthStatus('healthy'));
    const after = recordProbe(before, 'failure', { healthyThreshold: 1, unhealthyThreshold: 1 }, 5);
    expect(before.state).toBe('healthy');
    expect(after).toMatchObject({ state: 'unhealthy', healthy: false, consecutiveFailures: 1 });
  });

  it('starts with no probe recorded', () => {
    expect(initialHealthStatus('unhealthy')).toEqual({
      state: 'unhealthy',
      healthy: false,
      consecutiveSuccesses: 0,
      consecutiveFailures: 0,
      lastProbeAt: undefined,
      lastResult: undefined,
      lastError: undefined,
    });
  });

  it('keeps counting a run past its threshold', () => {
    const t = { healthyThreshold: 2, unhealthyThreshold: 2 };
    let status = initialHealthStatus('healthy');
    for (let i = 0; i < 5; i++) status = recordProbe(status, 'failure', t, i);
    expect(status).toMatchObject({ state: 'unhealthy', consecutiveFailures: 5 });
    status = recordProbe(status, 'success', t, 6);
    expect(status).toMatchObject({ state: 'unhealthy', consecutiveSuccesses: 1 });
    status = recordProbe(status, 'success', t, 7);
    expect(status).toMatchObject({ state: 'healthy', consecutiveSuccesses: 2 });
  });
});

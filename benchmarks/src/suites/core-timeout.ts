/**
 * Why: TimeoutLayer claims to avoid the timer and AbortController that a timeout usually costs
 * per call. This suite measures it against cockatiel's timeout policy (both strategies) on the
 * same immediately-resolving function. Target: ours at least 5× faster than cockatiel's
 * aggressive timeout.
 */
import { TimeoutLayer } from '@proxykit/core';
import { timeout, TimeoutStrategy } from 'cockatiel';
import { defineSuite, type Suite } from '../harness.js';
import { CALLS, work } from '../fixtures.js';

const TIMEOUT_MS = 10_000;

const layer = new TimeoutLayer({ timeoutMs: TIMEOUT_MS });
const service = layer.wrap(work);
const aggressive = timeout(TIMEOUT_MS, TimeoutStrategy.Aggressive);
const cooperative = timeout(TIMEOUT_MS, TimeoutStrategy.Cooperative);
// cockatiel aborts the call's signal when the call returns (abortOnReturn, default true); on
// Node 20 that abort dominates its cost, so its cheapest configuration is measured as well.
const aggressiveNoAbort = timeout(TIMEOUT_MS, {
  strategy: TimeoutStrategy.Aggressive,
  abortOnReturn: false,
});

const suite: Suite = defineSuite({
  name: 'core-timeout',
  bare: 'bare async call',
  baseline: 'cockatiel timeout (aggressive)',
  cases: {
    'bare async call': async () => {
      for (let i = 0; i < CALLS; i++) await work();
    },
    'proxykit TimeoutLayer (prewrapped)': async () => {
      for (let i = 0; i < CALLS; i++) await service(undefined);
    },
    'proxykit TimeoutLayer.execute': async () => {
      for (let i = 0; i < CALLS; i++) await layer.execute(work);
    },
    'cockatiel timeout (aggressive)': async () => {
      for (let i = 0; i < CALLS; i++) await aggressive.execute(work);
    },
    'cockatiel timeout (cooperative)': async () => {
      for (let i = 0; i < CALLS; i++) await cooperative.execute(work);
    },
    'cockatiel timeout (aggressive, abortOnReturn: false)': async () => {
      for (let i = 0; i < CALLS; i++) await aggressiveNoAbort.execute(work);
    },
  },
  callsPerIteration: CALLS,
  targets: [{ case: 'proxykit TimeoutLayer (prewrapped)', maxRatio: 1 / 5 }],
});

export default suite;

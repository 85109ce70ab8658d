/**
 * Why: TimeoutLayer claims to avoid the timer and AbortController that a timeout usually costs
 * per call. This suite measures it against cockatiel's timeout policy (both strategies) on the
 * same immediately-resolving function. Target: ours at least 5× faster than cockatiel's
 * aggressive timeout.
 */
import { TimeoutLayer } from '@proxykit/core';
import { timeout, TimeoutStrategy } from 'cockatiel';
import { defineSuite, type Suite } from '../harness.js';
import { work } from '../fixtures.js';

const TIMEOUT_MS = 10_000;

const layer = new TimeoutLayer({ timeoutMs: TIMEOUT_MS });
const service = layer.wrap(work);
const aggressive = timeout(TIMEOUT_MS, TimeoutStrategy.Aggressive);
const cooperative = timeout(TIMEOUT_MS, TimeoutStrategy.Cooperative);

const suite: Suite = defineSuite({
  name: 'core-timeout',
  bare: 'bare async call',
  baseline: 'cockatiel timeout (aggressive)',
  cases: {
    'bare async call': async () => {
      await work();
    },
    'proxykit TimeoutLayer (prewrapped)': async () => {
      await service(undefined);
    },
    'proxykit TimeoutLayer.execute': async () => {
      await layer.execute(work);
    },
    'cockatiel timeout (aggressive)': async () => {
      await aggressive.execute(work);
    },
    'cockatiel timeout (cooperative)': async () => {
      await cooperative.execute(work);
    },
  },
  targets: [{ case: 'proxykit TimeoutLayer (prewrapped)', maxRatio: 1 / 5 }],
});

export default suite;

/**
 * Why: a concurrency limit sits on every call, so its bookkeeping must be cheap when there is
 * room. This suite measures ConcurrencyLimitLayer against cockatiel's bulkhead, one call at a time
 * and ten at once, on the same immediately-resolving function. Target: ours at least 1.5× faster.
 */
import { ConcurrencyLimitLayer } from '@proxykit/core';
import { bulkhead } from 'cockatiel';
import { defineSuite, type Suite } from '../harness.js';
import { CALLS, work } from '../fixtures.js';

const LIMIT = 10;

const layer = new ConcurrencyLimitLayer({ maxConcurrent: LIMIT });
const service = layer.wrap(work);
const policy = bulkhead(LIMIT, 0);
const batch = Array.from({ length: LIMIT }, (_, i) => i);

// The batched rows (LIMIT calls at once, awaited together) are compared with each other.
const batched = { baseline: `cockatiel ×${LIMIT} Promise.all`, bare: `bare ×${LIMIT} Promise.all` };

const suite: Suite = defineSuite({
  name: 'core-concurrency',
  bare: 'bare async call',
  baseline: 'cockatiel bulkhead',
  cases: {
    'bare async call': async () => {
      for (let i = 0; i < CALLS; i++) await work();
    },
    'proxykit ConcurrencyLimitLayer': async () => {
      for (let i = 0; i < CALLS; i++) await service(undefined);
    },
    'cockatiel bulkhead': async () => {
      for (let i = 0; i < CALLS; i++) await policy.execute(work);
    },
    [batched.bare]: async () => {
      for (let i = 0; i < CALLS / LIMIT; i++) await Promise.all(batch.map(() => work()));
    },
    [`proxykit ×${LIMIT} Promise.all`]: async () => {
      for (let i = 0; i < CALLS / LIMIT; i++)
        await Promise.all(batch.map(() => service(undefined)));
    },
    [batched.baseline]: async () => {
      for (let i = 0; i < CALLS / LIMIT; i++)
        await Promise.all(batch.map(() => policy.execute(work)));
    },
  },
  overrides: {
    [batched.bare]: batched,
    [`proxykit ×${LIMIT} Promise.all`]: batched,
    [batched.baseline]: batched,
  },
  callsPerIteration: CALLS,
  targets: [
    { case: 'proxykit ConcurrencyLimitLayer', maxRatio: 1 / 1.5 },
    { case: `proxykit ×${LIMIT} Promise.all`, maxRatio: 1 / 1.5 },
  ],
});

export default suite;

/**
 * Why: a retry layer sits on every call, and almost every call succeeds the first time, so the
 * success path is what a retry layer mostly costs. This suite measures RetryLayer's success
 * path (with and without a RetryBudget) against cockatiel's `retry(...).execute` and p-retry on
 * the same immediately-resolving function, and what the budget's bookkeeping costs per request.
 * Targets: RetryLayer at least 2× faster than cockatiel on the success path; one budget deposit
 * plus one withdrawal under 100 ns (read the absolute time of that row; there is no peer to
 * divide by, since no JavaScript library has a retry budget).
 */
import { RetryBudget, RetryLayer, TokenBucketRetryBudget } from '@proxykit/retry-budget';
import { handleAll, retry } from 'cockatiel';
import pRetry from 'p-retry';
import { defineSuite, type Suite } from '../harness.js';
import { CALLS, work } from '../fixtures.js';

// The same policy everywhere: 3 attempts at most (cockatiel and p-retry count retries: 2).
const layer = new RetryLayer({ maxAttempts: 3 });
const service = layer.wrap(work);
const budgetedLayer = new RetryLayer({ maxAttempts: 3, budget: new RetryBudget() });
const budgeted = budgetedLayer.wrap(work);
const cockatiel = retry(handleAll, { maxAttempts: 2 });

const budget = new RetryBudget();
const passedIn = new RetryBudget();
const bucket = new TokenBucketRetryBudget({ retriesPerSecond: 100 });
let sink = 0;

// The budget rows are synchronous and compared with each other; their "bare" is the two clock
// reads a deposit and a withdrawal make between them.
const budgetRows = { baseline: 'RetryBudget deposit + tryWithdraw', bare: 'performance.now() ×2' };

const suite: Suite = defineSuite({
  name: 'retry-budget',
  bare: 'bare async call',
  baseline: 'cockatiel retry.execute',
  cases: {
    'bare async call': async () => {
      for (let i = 0; i < CALLS; i++) await work();
    },
    'proxykit RetryLayer (prewrapped)': async () => {
      for (let i = 0; i < CALLS; i++) await service(undefined);
    },
    'proxykit RetryLayer + RetryBudget (prewrapped)': async () => {
      for (let i = 0; i < CALLS; i++) await budgeted(undefined);
    },
    'proxykit RetryLayer.execute': async () => {
      for (let i = 0; i < CALLS; i++) await layer.execute(work);
    },
    'cockatiel retry.execute': async () => {
      for (let i = 0; i < CALLS; i++) await cockatiel.execute(work);
    },
    'p-retry': async () => {
      for (let i = 0; i < CALLS; i++) await pRetry(work, { retries: 2 });
    },
    [budgetRows.bare]: () => {
      for (let i = 0; i < CALLS; i++) sink += performance.now() + performance.now();
    },
    [budgetRows.baseline]: () => {
      for (let i = 0; i < CALLS; i++) {
        budget.deposit();
        if (budget.tryWithdraw()) sink++;
      }
    },
    'RetryBudget deposit + tryWithdraw (one clock read, passed in)': () => {
      for (let i = 0; i < CALLS; i++) {
        const now = performance.now();
        passedIn.deposit(now);
        if (passedIn.tryWithdraw(now)) sink++;
      }
    },
    'TokenBucketRetryBudget deposit + tryWithdraw': () => {
      for (let i = 0; i < CALLS; i++) {
        bucket.deposit();
        if (bucket.tryWithdraw()) sink++;
      }
    },
  },
  overrides: {
    [budgetRows.bare]: budgetRows,
    [budgetRows.baseline]: budgetRows,
    'RetryBudget deposit + tryWithdraw (one clock read, passed in)': budgetRows,
    'TokenBucketRetryBudget deposit + tryWithdraw': budgetRows,
  },
  callsPerIteration: CALLS,
  targets: [
    { case: 'proxykit RetryLayer (prewrapped)', maxRatio: 1 / 2 },
    { case: 'proxykit RetryLayer + RetryBudget (prewrapped)', maxRatio: 1 / 2 },
  ],
});

/** Keeps the budget rows' results alive, so no engine can drop the work as unused. */
export function consumed(): number {
  return sink;
}

export default suite;

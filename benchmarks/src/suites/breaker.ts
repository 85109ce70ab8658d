/**
 * Why: a breaker is left on around every call, so its closed state must cost next to nothing, and
 * when it is open its rejection is the whole point, so that must be cheap too. This suite measures
 * CircuitBreakerLayer against opossum 8 and cockatiel 3 on the same immediately-resolving function,
 * closed (pass-through) and open (rejection). Targets: closed ≥ 4× faster than opossum `fire`,
 * ≥ 2× faster than cockatiel `execute`, ≤ 1.5× a bare call; open ≥ 10× faster than opossum.
 *
 * A breaker that wraps a call must see how it ends, and in JavaScript the cheapest way is one
 * `.then` on the call's promise; the "floor" row measures exactly that and nothing else, to show
 * how much of `wrap`'s cost any wrapping breaker pays. The permit row is the other way to use the
 * breaker: the caller awaits the call itself and reports its outcome on a permit (`tryAcquire()`,
 * as a proxy or a driver wrapper with its own try/catch does), so no promise is watched.
 */
import { CircuitBreakerLayer } from '@proxykit/circuit-breaker';
import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel';
import Opossum from 'opossum';
import { defineSuite, type Suite } from '../harness.js';
import { CALLS, work } from '../fixtures.js';

const noop = (): void => undefined;
const failing = (): Promise<never> => Promise.reject(new Error('down'));

// Closed breakers.
const ours = new CircuitBreakerLayer({ failureThreshold: 5, resetTimeoutMs: 10_000 });
const oursService = ours.wrap(work);
const cockatielClosed = circuitBreaker(handleAll, {
  halfOpenAfter: 10_000,
  breaker: new ConsecutiveBreaker(5),
});
const opossumDefault = new Opossum(work, { resetTimeout: 10_000 });
const opossumNoTimeout = new Opossum(work, { resetTimeout: 10_000, timeout: false });

// Open breakers, each tripped by real failures where the library allows it.
const oursOpen = new CircuitBreakerLayer({ failureThreshold: 1, resetTimeoutMs: 1e9 });
const oursOpenService = oursOpen.wrap(work);
await oursOpen.execute(failing).catch(noop);
const cockatielOpen = circuitBreaker(handleAll, {
  halfOpenAfter: 1e9,
  breaker: new ConsecutiveBreaker(1),
});
await cockatielOpen.execute(failing).catch(noop);
const opossumOpen = new Opossum(work, { resetTimeout: 1e9, timeout: false });
opossumOpen.open();

// Keep opossum's status buckets from ticking while nothing is measured.
for (const breaker of [opossumDefault, opossumNoTimeout, opossumOpen]) breaker.on('reject', noop);

const closed = { baseline: 'opossum fire (closed)', bare: 'bare async call' };
const open = { baseline: 'opossum fire (open)' };

const suite: Suite = defineSuite({
  name: 'breaker',
  bare: 'bare async call',
  baseline: 'opossum fire (closed)',
  callsPerIteration: CALLS,
  cases: {
    'bare async call': async () => {
      for (let i = 0; i < CALLS; i++) await work();
    },
    'floor: bare call observed by one .then': async () => {
      for (let i = 0; i < CALLS; i++) {
        const pending = work();
        pending.then(noop, noop);
        await pending;
      }
    },
    'proxykit CircuitBreakerLayer (closed)': async () => {
      for (let i = 0; i < CALLS; i++) await oursService(undefined);
    },
    'proxykit tryAcquire + permit, caller awaits (closed)': async () => {
      for (let i = 0; i < CALLS; i++) {
        const permit = ours.tryAcquire();
        if (permit === undefined) throw ours.rejection();
        let value: number;
        try {
          value = await work();
        } catch (error) {
          permit.rejected(error);
          throw error;
        }
        permit.resolved(value);
      }
    },
    'proxykit CircuitBreakerLayer.execute (closed)': async () => {
      for (let i = 0; i < CALLS; i++) await ours.execute(work);
    },
    'cockatiel execute (closed)': async () => {
      for (let i = 0; i < CALLS; i++) await cockatielClosed.execute(work);
    },
    'opossum fire (closed)': async () => {
      for (let i = 0; i < CALLS; i++) await opossumDefault.fire();
    },
    'opossum fire (closed, timeout: false)': async () => {
      for (let i = 0; i < CALLS; i++) await opossumNoTimeout.fire();
    },
    'proxykit rejection (open)': async () => {
      for (let i = 0; i < CALLS; i++) await oursOpenService(undefined).catch(noop);
    },
    'cockatiel rejection (open)': async () => {
      for (let i = 0; i < CALLS; i++) await cockatielOpen.execute(work).catch(noop);
    },
    'opossum fire (open)': async () => {
      for (let i = 0; i < CALLS; i++) await opossumOpen.fire().catch(noop);
    },
  },
  overrides: {
    'floor: bare call observed by one .then': closed,
    'proxykit CircuitBreakerLayer (closed)': closed,
    'proxykit CircuitBreakerLayer.execute (closed)': closed,
    'proxykit tryAcquire + permit, caller awaits (closed)': closed,
    'cockatiel execute (closed)': closed,
    'opossum fire (closed, timeout: false)': closed,
    'proxykit rejection (open)': open,
    'cockatiel rejection (open)': open,
    'opossum fire (open)': open,
  },
  targets: [
    {
      case: 'proxykit CircuitBreakerLayer (closed)',
      maxRatio: 1 / 4,
      against: 'opossum fire (closed)',
    },
    {
      case: 'proxykit CircuitBreakerLayer (closed)',
      maxRatio: 1 / 4,
      against: 'opossum fire (closed, timeout: false)',
    },
    {
      case: 'proxykit CircuitBreakerLayer (closed)',
      maxRatio: 1 / 2,
      against: 'cockatiel execute (closed)',
    },
    { case: 'proxykit CircuitBreakerLayer (closed)', maxRatio: 1.5, against: 'bare async call' },
    {
      case: 'proxykit tryAcquire + permit, caller awaits (closed)',
      maxRatio: 1 / 4,
      against: 'opossum fire (closed)',
    },
    {
      case: 'proxykit tryAcquire + permit, caller awaits (closed)',
      maxRatio: 1 / 2,
      against: 'cockatiel execute (closed)',
    },
    {
      case: 'proxykit tryAcquire + permit, caller awaits (closed)',
      maxRatio: 1.5,
      against: 'bare async call',
    },
    { case: 'proxykit rejection (open)', maxRatio: 1 / 10, against: 'opossum fire (open)' },
    { case: 'proxykit rejection (open)', maxRatio: 1, against: 'cockatiel rejection (open)' },
  ],
});

export default suite;

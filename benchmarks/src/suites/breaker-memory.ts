/**
 * Why: a proxy keeps one breaker per upstream and a client one per host or tenant; opossum's
 * per-breaker timers and status buckets make that expensive. This suite builds 10 000 breakers of
 * each kind and reports the heap each one retains. Target: a KeyedCircuitBreaker key at least 10×
 * smaller than an opossum breaker.
 */
import { CircuitBreakerLayer, KeyedCircuitBreaker } from '@proxykit/circuit-breaker';
import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel';
import Opossum from 'opossum';
import { defineMemorySuite, type MemorySuite } from '../memory-harness.js';
import { work } from '../fixtures.js';

const suite: MemorySuite = defineMemorySuite({
  name: 'breaker-memory',
  baseline: 'opossum CircuitBreaker',
  count: 10_000,
  cases: {
    'opossum CircuitBreaker': (count) => {
      const breakers = Array.from(
        { length: count },
        () => new Opossum(work, { resetTimeout: 10_000 }),
      );
      // opossum starts a bucket interval per breaker; stop them after measuring (shutdown()).
      queueMicrotask(() => {
        for (const b of breakers) b.shutdown();
      });
      return breakers;
    },
    'cockatiel circuitBreaker': (count) =>
      Array.from({ length: count }, () =>
        circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
      ),
    'proxykit CircuitBreakerLayer': (count) =>
      Array.from({ length: count }, () => new CircuitBreakerLayer({ failureThreshold: 5 })),
    'proxykit KeyedCircuitBreaker key': (count) => {
      const keyed = new KeyedCircuitBreaker<string>({ failureThreshold: 5, maxKeys: count });
      for (let i = 0; i < count; i++) keyed.isolate(`upstream-${String(i)}`)();
      return keyed;
    },
  },
  targets: [{ case: 'proxykit KeyedCircuitBreaker key', maxRatio: 0.1 }],
});

export default suite;

/**
 * Why: passive health checking sees every live call, so `HealthCheckLayer` is on the request
 * path of every request a proxy forwards; the budget is < 50 ns per call over the bare
 * call. This suite measures the same immediately-resolving function bare, observed by one `.then`
 * (the floor: any layer that watches outcomes pays at least this), and through the layer:
 * - as in a proxy: a load balancer put the upstream object it chose in the context, and the layer
 *   reads it back (calls rotate over four upstreams, as a round robin would send them);
 * - the same with `upstreamOf` returning the upstream's name (a Map look-up by name instead of the
 *   identity check of a remembered object);
 * - the same as in a proxy whose calls carry the caller's AbortSignal (one not yet aborted): the
 *   layer then keeps the call's context for its error path, one small closure per call;
 * - with no context at all (a one-off call for one fixed upstream): no allocation per call;
 * - without the layer, as the proxy reports: the caller awaits the call itself and tells the
 *   detector its outcome with `report(name, outcome)` (no promise watched).
 * It also times `HealthChecker.isAvailable`, the hook a load balancer calls per candidate.
 *
 * Targets are ratios because the harness compares ratios: with a bare call of about 45–50 ns on
 * these machines, 2× the bare call is an overhead of about 45–50 ns. The `ns over bare` column
 * gives the overhead itself.
 */
import { createContextKey, rootContext } from '@proxykit/core';
import { HealthCheckLayer, HealthChecker, OutlierDetector } from '@proxykit/health-check';
import { CALLS, work } from '../fixtures.js';
import { defineSuite, type Suite } from '../harness.js';

const noop = (): void => undefined;

interface Upstream {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}
const UPSTREAM = createContextKey<Upstream>('bench-upstream');
const upstreams: Upstream[] = Array.from({ length: 4 }, (_, i) => ({
  name: `upstream-${i}`,
  host: '127.0.0.1',
  port: 9000 + i,
}));
// What a load balancer hands the layers inside it: a context carrying its choice, one per upstream.
const contexts = upstreams.map((u) => rootContext.with(UPSTREAM, u));
const contextFor = (i: number): (typeof contexts)[number] => contexts[i & 3] ?? rootContext;
// The same, below a caller that can abort (a client's request that may disconnect).
const caller = new AbortController();
const signalled = upstreams.map((u) => rootContext.withSignal(caller.signal).with(UPSTREAM, u));
const signalledFor = (i: number): (typeof contexts)[number] => signalled[i & 3] ?? rootContext;

const detector = new OutlierDetector({ upstreams });
const byObject = new HealthCheckLayer({
  detector,
  upstreamOf: (_req, ctx) => ctx.get(UPSTREAM),
}).wrap(work);
const byName = new HealthCheckLayer({
  detector,
  upstreamOf: (_req, ctx) => ctx.get(UPSTREAM)?.name,
}).wrap(work);
const fixedUpstream = upstreams[0];
const names = upstreams.map((u) => u.name);
const noContext = new HealthCheckLayer({ detector, upstreamOf: () => fixedUpstream }).wrap(work);

const health = new HealthChecker({ targets: upstreams, passive: {} });
let available = 0;

const bare = 'bare async call';
const floor = 'floor: bare call observed by one .then';
const proxyLike = 'HealthCheckLayer, upstream object from the context';
const named = 'HealthCheckLayer, upstream name from the context';
const withSignal = "HealthCheckLayer, upstream object from the context, caller's AbortSignal";
const oneOff = 'HealthCheckLayer, no context (root), fixed upstream';
const hook = 'HealthChecker.isAvailable (sync, no await)';
const reported = 'OutlierDetector.report after the caller awaits (as the proxy does)';

const suite: Suite = defineSuite({
  name: 'health-check',
  bare,
  baseline: bare,
  callsPerIteration: CALLS,
  cases: {
    [bare]: async () => {
      for (let i = 0; i < CALLS; i++) await work();
    },
    [floor]: async () => {
      for (let i = 0; i < CALLS; i++) {
        const pending = work();
        pending.then(noop, noop);
        await pending;
      }
    },
    [proxyLike]: async () => {
      for (let i = 0; i < CALLS; i++) await byObject(undefined, contextFor(i));
    },
    [named]: async () => {
      for (let i = 0; i < CALLS; i++) await byName(undefined, contextFor(i));
    },
    [withSignal]: async () => {
      for (let i = 0; i < CALLS; i++) await byObject(undefined, signalledFor(i));
    },
    [oneOff]: async () => {
      for (let i = 0; i < CALLS; i++) await noContext(undefined);
    },
    [reported]: async () => {
      for (let i = 0; i < CALLS; i++) {
        const name = names[i & 3] ?? '';
        try {
          await work();
        } catch (error) {
          detector.report(name, 'transient');
          throw error;
        }
        detector.report(name, 'success');
      }
    },
    [hook]: () => {
      for (let i = 0; i < CALLS; i++) if (health.isAvailable(upstreams[i & 3] ?? 'x')) available++;
      return available;
    },
  },
  overrides: {
    // A synchronous look-up: compared with itself only; its row shows its time per call.
    [hook]: { baseline: hook, bare: hook },
  },
  targets: [
    { case: proxyLike, maxRatio: 2, against: bare },
    { case: oneOff, maxRatio: 2, against: bare },
    { case: reported, maxRatio: 2, against: bare },
  ],
});

export default suite;

/**
 * Why: a pool sits under every request a proxy forwards, so handing out a warm resource and
 * taking it back must cost next to nothing. This suite measures the warm path — the pool holds
 * idle resources, the caller awaits an acquire and releases the resource — for UpstreamPool
 * against generic-pool 3.9 and tarn 3.1, each with `max: 10, min: 10` and a fake resource (no
 * I/O), called exactly as their users call them. Target: ≥ 5× faster than generic-pool, and
 * faster than tarn.
 *
 * UpstreamPool runs with its defaults (idle timeout on, so hand-outs and releases check the
 * time), and is also shown with `await using` and with the synchronous `tryAcquire`. Two floors
 * show what any pool called this way pays: awaiting an already-resolved promise (the "bare"
 * column is the time over it), and an `await using` block around a no-op AsyncDisposable (the
 * language's own cost, lowered by esbuild on Node 20).
 */
import { Upstream, UpstreamPool } from '@proxykit/upstream-pool';
import genericPool from 'generic-pool';
import tarn from 'tarn';
import { defineSuite, type Suite } from '../harness.js';
import { CALLS } from '../fixtures.js';

interface FakeResource {
  readonly id: number;
}

let nextId = 0;
// eslint-disable-next-line @typescript-eslint/require-await -- an async factory, as real ones are
const create = async (): Promise<FakeResource> => ({ id: nextId++ });
const destroy = (): Promise<void> => Promise.resolve();

const upstream = Upstream.parse('tcp://127.0.0.1:5432');
const resolved = Promise.resolve({ id: -1 });
const RESOLVED_VOID = Promise.resolve();
const noopDisposable: AsyncDisposable = { [Symbol.asyncDispose]: () => RESOLVED_VOID };

const ours = new UpstreamPool<FakeResource>({
  factory: { create, destroy },
  max: 10,
  min: 10,
  upstreams: [upstream],
});
const generic = genericPool.createPool<FakeResource>({ create, destroy }, { max: 10, min: 10 });
const tarnPool = new tarn.Pool<FakeResource>({ create, destroy, min: 10, max: 10 });

// Warm all three: ten idle resources each before anything is measured.
for (let i = 0; i < 100 && ours.stats(upstream).idle < 10; i++) {
  await new Promise((resolve) => setImmediate(resolve));
}
await generic.ready();
const tarnWarm = await Promise.all(Array.from({ length: 10 }, () => tarnPool.acquire().promise));
for (const resource of tarnWarm) tarnPool.release(resource);
// tarn's reaper is a referenced setInterval that would keep the benchmark process alive.
(tarnPool as unknown as { interval: NodeJS.Timeout | null }).interval?.unref();
if (ours.stats(upstream).idle !== 10 || generic.available !== 10 || tarnPool.numFree() !== 10) {
  throw new Error('upstream-pool suite: the pools did not warm up');
}

const suite: Suite = defineSuite({
  name: 'upstream-pool',
  baseline: 'generic-pool acquire + release',
  bare: 'bare: await a resolved promise',
  callsPerIteration: CALLS,
  cases: {
    'bare: await a resolved promise': async () => {
      for (let i = 0; i < CALLS; i++) await resolved;
    },
    'floor: await using a no-op AsyncDisposable': async () => {
      for (let i = 0; i < CALLS; i++) {
        await using _disposable = noopDisposable;
      }
    },
    'proxykit UpstreamPool acquire + release': async () => {
      for (let i = 0; i < CALLS; i++) {
        const lease = await ours.acquire(upstream);
        lease.release();
      }
    },
    'proxykit UpstreamPool await using': async () => {
      for (let i = 0; i < CALLS; i++) {
        await using _lease = await ours.acquire(upstream);
      }
    },
    'proxykit UpstreamPool tryAcquire (sync)': () => {
      for (let i = 0; i < CALLS; i++) ours.tryAcquire(upstream)?.release();
    },
    'generic-pool acquire + release': async () => {
      for (let i = 0; i < CALLS; i++) {
        const resource = await generic.acquire();
        void generic.release(resource);
      }
    },
    'tarn acquire + release': async () => {
      for (let i = 0; i < CALLS; i++) {
        const resource = await tarnPool.acquire().promise;
        tarnPool.release(resource);
      }
    },
  },
  targets: [
    { case: 'proxykit UpstreamPool acquire + release', maxRatio: 1 / 5 },
    { case: 'proxykit UpstreamPool await using', maxRatio: 1 / 2 },
    {
      case: 'proxykit UpstreamPool acquire + release',
      maxRatio: 1,
      against: 'tarn acquire + release',
    },
  ],
});

export default suite;

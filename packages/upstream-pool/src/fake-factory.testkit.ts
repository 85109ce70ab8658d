/**
 * Why: the pool's promises (never more than `max`, nothing leased twice, nothing left after
 * close) are about resources, so the tests need a factory that counts them. This fake factory
 * runs on a VirtualClock: each `create` settles after a scripted latency with a scripted outcome,
 * honours (or, when told to, ignores) its abort signal, and records every resource alive or being
 * created per upstream, the most ever seen at once, and every destroy. Test-only; not exported
 * from the package.
 */
import { abortReason, type Clock, onAbort } from '@proxykit/core';
import type { ResourceFactory } from './resource-factory.js';
import type { Upstream } from './upstream.js';

/** A pooled fake resource. */
export interface FakeResource {
  readonly id: number;
  /** The origin of the upstream it was created for. */
  readonly origin: string;
  /** Clock time it was created. */
  readonly createdAt: number;
  /** False once destroyed. */
  alive: boolean;
  /** Set by `kill()`: it died on its own. */
  killed: boolean;
  /** What `isReusable` answers while alive. */
  reusable: boolean;
  /** The pool's death notice, from `watch`. */
  onDead: ((reason?: unknown) => void) | undefined;
}

/** How the next `create` calls behave. */
export interface FakeBehaviour {
  /** Rejects with this error when set. */
  readonly error?: Error;
  /** Virtual ms until it settles; 0 settles at once. */
  readonly latencyMs?: number;
  /** Does not settle early when its signal aborts (a badly behaved factory). */
  readonly ignoreAbort?: boolean;
}

/** A counting fake {@link ResourceFactory} on virtual time. */
export class FakeFactory implements ResourceFactory<FakeResource> {
  behaviour: FakeBehaviour = {};
  /** `create` calls so far. */
  calls = 0;
  /** Resources created (resolved) so far. */
  readonly resources: FakeResource[] = [];
  /** Per origin: resources alive plus creations not yet settled. */
  readonly live: Map<string, number> = new Map();
  /** Per origin: the most `live` ever reached. */
  readonly maxLive: Map<string, number> = new Map();
  /** Problems seen (a resource destroyed twice); a test asserts this stays empty. */
  readonly problems: string[] = [];
  #nextId = 0;

  constructor(readonly clock: Clock) {}

  /** Total `live` over every upstream. */
  get liveTotal(): number {
    let total = 0;
    for (const n of this.live.values()) total += n;
    return total;
  }

  create(upstream: Upstream, signal: AbortSignal): Promise<FakeResource> {
    this.calls++;
    const origin = upstream.origin;
    const { error, latencyMs = 0, ignoreAbort = false } = this.behaviour;
    this.#count(origin, 1);
    if (signal.aborted) {
      this.#count(origin, -1);
      return Promise.reject(abortReason(signal));
    }
    return new Promise<FakeResource>((resolve, reject) => {
      let detach = (): void => undefined;
      const settle = (): void => {
        detach();
        if (error !== undefined) {
          this.#count(origin, -1);
          reject(error);
          return;
        }
        const resource: FakeResource = {
          id: this.#nextId++,
          origin,
          createdAt: this.clock.now(),
          alive: true,
          killed: false,
          reusable: true,
          onDead: undefined,
        };
        this.resources.push(resource);
        resolve(resource);
      };
      if (latencyMs === 0) {
        settle();
        return;
      }
      const timer = this.clock.setTimer(settle, latencyMs);
      if (!ignoreAbort) {
        detach = onAbort(signal, () => {
          timer.cancel();
          this.#count(origin, -1);
          reject(abortReason(signal));
        });
      }
    });
  }

  destroy(resource: FakeResource): void {
    if (!resource.alive) {
      this.problems.push(`resource ${String(resource.id)} destroyed twice`);
      return;
    }
    resource.alive = false;
    this.#count(resource.origin, -1);
  }

  /** Deliberately blind to `killed`: the pool must learn of a death through `watch` alone. */
  isReusable(resource: FakeResource): boolean {
    return resource.alive && resource.reusable;
  }

  watch(resource: FakeResource, onDead: (reason?: unknown) => void): void {
    resource.onDead = onDead;
  }

  /** The resource dies on its own (its peer closed it): the pool hears of it through `watch`. */
  kill(resource: FakeResource, reason?: unknown): void {
    resource.killed = true;
    resource.onDead?.(reason);
  }

  #count(origin: string, delta: number): void {
    const n = (this.live.get(origin) ?? 0) + delta;
    this.live.set(origin, n);
    if (n > (this.maxLive.get(origin) ?? 0)) this.maxLive.set(origin, n);
  }
}

// Why: the seed's `max_in_flight` semaphore. A proxy that queues without bound turns an overload
// into memory growth and ever longer latency; like Envoy's overload manager and HAProxy's
// `maxconn` with no queue, a request beyond the limit is refused at once with 503 and a
// `Retry-After`, so clients (and the load balancer in front) go elsewhere or come back later.

import { requireInteger } from '@proxykit/core';

/** `Retry-After` (seconds) sent with a 503 refused for backpressure. */
export const BACKPRESSURE_RETRY_AFTER_SECONDS = 1;

/** A non-blocking counting semaphore: admits up to `max` holders, refuses the rest. */
export class Backpressure {
  /** Most holders at once. */
  readonly max: number;
  #inFlight = 0;

  /** @throws RangeError when `max` is not an integer in [1, 1000000] */
  constructor(max: number) {
    this.max = requireInteger('Backpressure', 'maxInFlight', max, 1, 1_000_000);
  }

  /** Holders now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes a slot; false (and nothing taken) when all `max` are held. */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.max) return false;
    this.#inFlight++;
    return true;
  }

  /** Gives back a slot taken by {@link Backpressure.tryAcquire}. */
  release(): void {
    if (this.#inFlight > 0) this.#inFlight--;
  }
}

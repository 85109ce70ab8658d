/**
 * Why: observability must not force a metrics library on anyone. Each primitive exposes typed
 * events with disposers for in-process listeners and publishes the same payloads to
 * `node:diagnostics_channel` (`proxykit:<package>:<event>`) for tracers and APMs. Both are
 * checked before a payload is built, so nobody pays for an event nobody listens to.
 */
import diagnostics from 'node:diagnostics_channel';

/** A function that detaches a listener; also usable with `using`. */
export type Disposer = (() => void) & Disposable;

/** Listener for events of type `T`. */
export type Listener<T> = (event: T) => void;

/**
 * Turns a cleanup function into a {@link Disposer}: callable and `using`-compatible, idempotent.
 */
export function toDisposer(cleanup: () => void): Disposer {
  let done = false;
  const dispose = (): void => {
    if (done) return;
    done = true;
    cleanup();
  };
  return Object.assign(dispose, { [Symbol.dispose]: dispose });
}

/** Returns the diagnostics channel `proxykit:<packageName>:<event>`. */
export function proxykitChannel(packageName: string, event: string): diagnostics.Channel {
  return diagnostics.channel(`proxykit:${packageName}:${event}`);
}

/**
 * A typed event: listeners subscribe with {@link Emitter.on} and get a {@link Disposer}; each
 * emission also goes to an optional diagnostics channel. A listener that throws does not stop
 * the others nor the call that emitted; its error is reported as a process warning.
 *
 * @example
 * ```ts
 * readonly onReject = new Emitter<RejectEvent>(proxykitChannel('rate-limit', 'reject'));
 * if (this.onReject.wanted) this.onReject.emit({ key, retryAfterMs });
 * ```
 */
export class Emitter<T> {
  #listeners: readonly Listener<T>[] = [];
  readonly #channel: diagnostics.Channel | undefined;

  /** @param channel where emissions are also published, if anyone subscribes there */
  constructor(channel?: diagnostics.Channel) {
    this.#channel = channel;
  }

  /** True when a listener or a channel subscriber would receive an emission. */
  get wanted(): boolean {
    return this.#listeners.length > 0 || this.#channel?.hasSubscribers === true;
  }

  /** Number of in-process listeners. */
  get listenerCount(): number {
    return this.#listeners.length;
  }

  /** Subscribes `listener`; call the returned disposer (or `using` it) to unsubscribe. */
  on(listener: Listener<T>): Disposer {
    this.#listeners = [...this.#listeners, listener];
    return toDisposer(() => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    });
  }

  /** Delivers `event` to every listener and to the channel's subscribers. */
  emit(event: T): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        process.emitWarning(
          error instanceof Error ? error : new Error(String(error)),
          'ProxykitListenerError',
        );
      }
    }
    const channel = this.#channel;
    if (channel?.hasSubscribers === true) channel.publish(event);
  }
}

/**
 * Why: every layer needs the caller's AbortSignal and the attempt number, and some layers must
 * hand a value to the layers inside them (the load balancer tells the per-upstream breaker which
 * upstream it chose). A persistent context (each `with` returns a child that shares its parent's
 * values) keeps that typed, cheap and free of globals. Modelled on Go's `context.Context` values
 * and tower's request extensions.
 */
import { NEVER_ABORTED } from './abort.js';

/**
 * A typed key for a value carried by a {@link CallContext}. Create one per concept with
 * {@link createContextKey}; keys compare by identity, so two keys with the same description
 * never collide.
 */
export interface ContextKey<T> {
  /** Human-readable name, used only in debugging output. */
  readonly description: string;
  /** Phantom member that ties the key to its value type; never set. */
  readonly _valueType?: (value: T) => T;
}

/**
 * Creates a new {@link ContextKey}.
 *
 * @example
 * ```ts
 * const UPSTREAM = createContextKey<Upstream>('upstream');
 * next(req, ctx.with(UPSTREAM, chosen));
 * ```
 */
export function createContextKey<T>(description: string): ContextKey<T> {
  return Object.freeze({ description });
}

/**
 * What a layer knows about the call it is handling besides the request itself.
 * Contexts are immutable: `with`, `withSignal` and `withAttempt` return a child context.
 */
export interface CallContext {
  /** Aborts when the caller gives up (or an outer layer's deadline passes). */
  readonly signal: AbortSignal;
  /** 1 for the first attempt; retry layers pass 2, 3, … to the layers inside them. */
  readonly attempt: number;
  /** Returns the value an outer layer stored under `key`, or `undefined`. */
  get<T>(key: ContextKey<T>): T | undefined;
  /** Returns a child context that also carries `value` under `key`. */
  with<T>(key: ContextKey<T>, value: T): CallContext;
  /** Returns a child context with a different signal. */
  withSignal(signal: AbortSignal): CallContext;
  /** Returns a child context with a different attempt number. */
  withAttempt(attempt: number): CallContext;
}

interface ValueNode {
  readonly key: object;
  readonly value: unknown;
  readonly next: ValueNode | undefined;
}

function lookupContextValue<T>(values: ValueNode | undefined, key: ContextKey<T>): T | undefined {
  for (let node = values; node !== undefined; node = node.next) {
    if (node.key === key) return node.value as T;
  }
  return undefined;
}

class Context implements CallContext {
  readonly signal: AbortSignal;
  readonly attempt: number;
  /** @internal */
  readonly values: ValueNode | undefined;

  constructor(signal: AbortSignal, attempt: number, values: ValueNode | undefined) {
    this.signal = signal;
    this.attempt = attempt;
    this.values = values;
  }

  get<T>(key: ContextKey<T>): T | undefined {
    return lookupContextValue(this.values, key);
  }

  with<T>(key: ContextKey<T>, value: T): CallContext {
    return new Context(this.signal, this.attempt, { key, value, next: this.values });
  }

  withSignal(signal: AbortSignal): CallContext {
    return new Context(signal, this.attempt, this.values);
  }

  withAttempt(attempt: number): CallContext {
    return new Context(this.signal, attempt, this.values);
  }
}

/** Options for {@link createContext}. */
export interface CreateContextOptions {
  /** The caller's cancellation signal; defaults to one that never aborts. */
  readonly signal?: AbortSignal | undefined;
  /** Attempt number; defaults to 1. */
  readonly attempt?: number;
}

/** The context used when a caller passes none: never aborts, attempt 1, no values. */
export const rootContext: CallContext = new Context(NEVER_ABORTED, 1, undefined);

/** Creates a fresh context, typically at the outermost call site. */
export function createContext(options: CreateContextOptions = {}): CallContext {
  const { signal, attempt = 1 } = options;
  if (signal === undefined && attempt === 1) return rootContext;
  return new Context(signal ?? NEVER_ABORTED, attempt, undefined);
}

/**
 * Why: the seed's `RetryLayer.new(max_attempts, backoff_base_ms, backoff_max_ms, budget)`: retry
 * what is worth retrying, wait a jittered, capped exponential backoff between attempts, and ask a
 * shared budget before every retry so that retries cannot multiply an outage. Behaviour follows
 * tower's `Retry` layer with a `Budget` and Envoy's retry policy: only failures the classifier
 * calls transient, upstream or timeout are retried; the caller's abort ends everything at once,
 * including a backoff wait, and leaves no timer behind; when the budget says no, the last outcome
 * goes back to the caller as it is (or, if asked, as a RetryBudgetExhaustedError).
 *
 * The success path pays one budget deposit and one promise reaction: no timer, no clock read
 * beyond the budget's own, no context allocation, no signal read (an outer TimeoutLayer creates
 * its AbortController only when someone reads the signal).
 */
import {
  type CallContext,
  type Clock,
  defaultClassifier,
  delay,
  type Disposer,
  Emitter,
  type Handler,
  LayerBase,
  type Listener,
  MAX_TIMER_DELAY_MS,
  type OutcomeClassifier,
  proxykitChannel,
  requireInteger,
  requireNumber,
  RetryBudgetExhaustedError,
  rootContext,
  type Service,
  systemClock,
} from '@proxykit/core';
import {
  decorrelatedJitter,
  exponentialBackoff,
  fullJitter,
  type RandomSource,
} from './backoff.js';
import type { RetryBudgetLike } from './retry-budget-like.js';
import {
  errorOutcome,
  isRetryableByDefault,
  resultOutcome,
  type RetryOutcome,
} from './retry-outcome.js';

/**
 * How waits are spread between attempts (see `backoff.ts`): `'full'` (default) waits
 * `random · min(cap, base · 2^i)` before the i-th retry (from 0); `'decorrelated'` waits
 * `min(cap, random_between(base, 3 · previous wait))`; `'none'` waits exactly
 * `min(cap, base · 2^i)`.
 */
export type JitterKind = 'full' | 'decorrelated' | 'none';

/**
 * What the layer does when a retry is due but the budget refuses it: `'return-last'` hands back
 * the last attempt's outcome as it is (its result, or its error rethrown); `'reject'` rejects with
 * a `RetryBudgetExhaustedError` whose `cause` is that result or error.
 */
export type BudgetExhaustedBehaviour = 'return-last' | 'reject';

/** Options for {@link RetryLayer}. */
export interface RetryLayerOptions {
  /** Attempts per call, the first included: an integer >= 1, default 3 (so at most 2 retries). */
  readonly maxAttempts?: number;
  /** The first retry's largest wait, in ms, in [0, 2147483647]; default 25. */
  readonly baseDelayMs?: number;
  /**
   * The longest wait between attempts, in ms, in [baseDelayMs, 2147483647]; default 1000. It also
   * caps a Retry-After hint.
   */
  readonly maxDelayMs?: number;
  /** How waits are spread; default `'full'`. */
  readonly jitter?: JitterKind;
  /**
   * A budget shared by every call to the same dependency ({@link RetryBudget},
   * {@link TokenBucketRetryBudget} or your own): each call deposits once, each retry withdraws.
   * Without one, only `maxAttempts` bounds retries.
   */
  readonly budget?: RetryBudgetLike | undefined;
  /** What to do when the budget refuses a retry; default `'return-last'`. */
  readonly onExhausted?: BudgetExhaustedBehaviour;
  /** Decides the class of each outcome; defaults to core's `defaultClassifier`. */
  readonly classifier?: OutcomeClassifier;
  /**
   * Whether this request may be repeated at all, asked before every retry (never on the success
   * path). A proxy answers true only for idempotent methods whose body it can replay. Default:
   * every request may be retried.
   *
   * @param req the request, as the layer received it (the layer works on any request type)
   * @param ctx the caller's context
   */
  readonly shouldRetry?: ((req: unknown, ctx: CallContext) => boolean) | undefined;
  /**
   * Overrides which outcomes are retried. Gets the failed attempt's outcome and the default
   * decision ({@link isRetryableByDefault}), so `(o, byDefault) => byDefault || o.status === 500`
   * extends it. A caller's abort (`cancelled`, or the call's signal aborted) is never retried,
   * whatever this returns.
   */
  readonly shouldRetryOn?:
    ((outcome: RetryOutcome, retryableByDefault: boolean) => boolean) | undefined;
  /** Time source for the backoff waits; defaults to the system clock. */
  readonly clock?: Clock;
  /** Uniform random numbers in [0, 1) for the jitter; defaults to `Math.random`. */
  readonly random?: RandomSource;
}

/** Emitted before each backoff wait, on `proxykit:retry-budget:retry` too. */
export interface RetryEvent {
  /** The attempt about to be made: 2 for the first retry. */
  readonly attempt: number;
  /** The wait before it, in ms. */
  readonly delayMs: number;
  /** The failed attempt that caused the retry. */
  readonly cause: RetryOutcome;
}

/**
 * Why the layer stopped retrying an outcome it would otherwise have retried: `'max-attempts'`
 * (no attempts left), `'budget-exhausted'` (the budget refused) or `'unsafe'` (the
 * `shouldRetry` hook refused the request).
 */
export type GiveUpReason = 'max-attempts' | 'budget-exhausted' | 'unsafe';

/** Emitted when a retryable failure is handed back without a retry, on `proxykit:retry-budget:give-up` too. */
export interface GiveUpEvent {
  /** Attempts made. */
  readonly attempts: number;
  /** Why no retry followed. */
  readonly reason: GiveUpReason;
  /** The last attempt's outcome. */
  readonly cause: RetryOutcome;
}

/** Emitted when the budget refuses a retry, on `proxykit:retry-budget:budget-exhausted` too. */
export interface BudgetExhaustedEvent {
  /** The attempt that was refused: 2 for the first retry. */
  readonly attempt: number;
  /** The failed attempt that would have been retried. */
  readonly cause: RetryOutcome;
}

const JITTERS: readonly JitterKind[] = ['full', 'decorrelated', 'none'];
const EXHAUSTED: readonly BudgetExhaustedBehaviour[] = ['return-last', 'reject'];

function requireOneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    const list = allowed.map((a) => JSON.stringify(a)).join(', ');
    const got = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw new RangeError(`RetryLayer: ${option} must be one of ${list}, got ${got}`);
  }
  return value as T;
}

function requireFunction<T>(option: string, value: T): T {
  if (value !== undefined && typeof value !== 'function') {
    throw new RangeError(`RetryLayer: ${option} must be a function, got ${String(value)}`);
  }
  return value;
}

function settle<Res>(outcome: RetryOutcome<Res>): Res {
  if (outcome.kind === 'error') throw outcome.error;
  return outcome.result;
}

/**
 * Retries failed calls with capped exponential backoff and jitter, within `maxAttempts` and an
 * optional shared {@link RetryBudget}.
 *
 * Each attempt runs `next(req, ctx.withAttempt(n))`, so inner layers see the attempt number.
 * An attempt's outcome is its result (classified with `classifier.classifyResult`) or its error
 * (`classifier.classifyError(error, ctx.signal)`). A failed attempt is retried when
 * `shouldRetryOn` (default {@link isRetryableByDefault}) says so, the caller has not aborted,
 * attempts remain, `shouldRetry(req, ctx)` allows it and the budget has room. The wait before
 * the retry is the jittered backoff, raised to the outcome's Retry-After hint if that is longer,
 * and never more than `maxDelayMs`; it ends at once, rejecting with the abort reason, when
 * `ctx.signal` aborts. When no retry follows, the last outcome is returned or rethrown as it is.
 *
 * @example
 * ```ts
 * const budget = new RetryBudget({ budgetPercent: 20 });
 * const retry = new RetryLayer({ maxAttempts: 3, baseDelayMs: 25, maxDelayMs: 1000, budget });
 * const get = retry.wrap((url: string, { signal }) => fetch(url, { signal }));
 * ```
 */
export class RetryLayer extends LayerBase {
  /** The configured attempts per call. */
  readonly maxAttempts: number;
  /** The configured first-retry wait in ms. */
  readonly baseDelayMs: number;
  /** The configured longest wait in ms. */
  readonly maxDelayMs: number;
  /** The configured jitter. */
  readonly jitter: JitterKind;
  /** The configured budget behaviour. */
  readonly onExhausted: BudgetExhaustedBehaviour;
  /** The shared budget, if any. */
  readonly budget: RetryBudgetLike | undefined;
  readonly #classifier: OutcomeClassifier;
  readonly #shouldRetry: ((req: unknown, ctx: CallContext) => boolean) | undefined;
  readonly #shouldRetryOn:
    ((outcome: RetryOutcome, retryableByDefault: boolean) => boolean) | undefined;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #retryEvents = new Emitter<RetryEvent>(proxykitChannel('retry-budget', 'retry'));
  readonly #giveUpEvents = new Emitter<GiveUpEvent>(proxykitChannel('retry-budget', 'give-up'));
  readonly #budgetEvents = new Emitter<BudgetExhaustedEvent>(
    proxykitChannel('retry-budget', 'budget-exhausted'),
  );

  /** @throws RangeError naming the first invalid option */
  constructor(options: RetryLayerOptions = {}) {
    super();
    const owner = 'RetryLayer';
    this.maxAttempts = requireInteger(owner, 'maxAttempts', options.maxAttempts ?? 3, 1);
    this.baseDelayMs = requireNumber(
      owner,
      'baseDelayMs',
      options.baseDelayMs ?? 25,
      0,
      MAX_TIMER_DELAY_MS,
      true,
    );
    this.maxDelayMs = requireNumber(
      owner,
      'maxDelayMs',
      options.maxDelayMs ?? Math.max(1000, this.baseDelayMs),
      this.baseDelayMs,
      MAX_TIMER_DELAY_MS,
      true,
    );
    this.jitter = requireOneOf('jitter', options.jitter ?? 'full', JITTERS);
    this.onExhausted = requireOneOf('onExhausted', options.onExhausted ?? 'return-last', EXHAUSTED);
    const budget: unknown = options.budget;
    if (
      budget !== undefined &&
      (typeof budget !== 'object' ||
        budget === null ||
        typeof (budget as Partial<RetryBudgetLike>).deposit !== 'function' ||
        typeof (budget as Partial<RetryBudgetLike>).tryWithdraw !== 'function')
    ) {
      const got = budget === null ? 'null' : typeof budget;
      throw new RangeError(
        `RetryLayer: budget must have deposit() and tryWithdraw() methods, got ${got}`,
      );
    }
    this.budget = budget as RetryBudgetLike | undefined;
    this.#classifier = options.classifier ?? defaultClassifier;
    this.#shouldRetry = requireFunction('shouldRetry', options.shouldRetry);
    this.#shouldRetryOn = requireFunction('shouldRetryOn', options.shouldRetryOn);
    this.#clock = options.clock ?? systemClock;
    this.#random = requireFunction('random', options.random) ?? Math.random;
  }

  /** Calls `listener` before each backoff wait; returns a disposer that unsubscribes. */
  onRetry(listener: Listener<RetryEvent>): Disposer {
    return this.#retryEvents.on(listener);
  }

  /** Calls `listener` when a retryable failure is handed back without a retry. */
  onGiveUp(listener: Listener<GiveUpEvent>): Disposer {
    return this.#giveUpEvents.on(listener);
  }

  /** Calls `listener` when the budget refuses a retry. */
  onBudgetExhausted(listener: Listener<BudgetExhaustedEvent>): Disposer {
    return this.#budgetEvents.on(listener);
  }

  /** Returns `next` with retries. */
  wrap<Req, Res>(next: Handler<Req, Res>): Service<Req, Res> {
    const budget = this.budget;
    const classifier = this.#classifier;
    return (req: Req, ctx: CallContext = rootContext): Promise<Res> => {
      if (budget !== undefined) budget.deposit();
      let pending: Promise<Res>;
      try {
        pending = next(req, ctx.attempt === 1 ? ctx : ctx.withAttempt(1));
      } catch (error) {
        pending = Promise.reject(error);
      }
      return pending.then(
        (result) => {
          const outcomeClass = classifier.classifyResult(result);
          if (outcomeClass === 'success') return result;
          return this.#retry(next, req, ctx, resultOutcome(result, outcomeClass, 1));
        },
        (error: unknown) => {
          const outcomeClass = classifier.classifyError(error, ctx.signal);
          return this.#retry(next, req, ctx, errorOutcome(error, outcomeClass, 1));
        },
      );
    };
  }

  /** The slow path: `outcome` is a failed first attempt. */
  async #retry<Req, Res>(
    next: Handler<Req, Res>,
    req: Req,
    ctx: CallContext,
    first: RetryOutcome<Res>,
  ): Promise<Res> {
    const signal = ctx.signal;
    const classifier = this.#classifier;
    const budget = this.budget;
    let outcome = first;
    let previousWait = this.baseDelayMs;
    for (let attempt = 1; ; attempt++) {
      // `outcome` is what attempt number `attempt` produced, and it was not a success.
      if (outcome.outcomeClass === 'cancelled' || signal.aborted || !this.#retryable(outcome)) {
        return settle(outcome);
      }
      if (attempt >= this.maxAttempts) {
        this.#emitGiveUp(outcome, 'max-attempts');
        return settle(outcome);
      }
      if (this.#shouldRetry !== undefined && !this.#shouldRetry(req, ctx)) {
        this.#emitGiveUp(outcome, 'unsafe');
        return settle(outcome);
      }
      if (budget !== undefined && !budget.tryWithdraw()) {
        if (this.#budgetEvents.wanted) {
          this.#budgetEvents.emit({ attempt: attempt + 1, cause: outcome });
        }
        this.#emitGiveUp(outcome, 'budget-exhausted');
        if (this.onExhausted === 'reject') {
          throw new RetryBudgetExhaustedError(
            outcome.kind === 'error' ? outcome.error : outcome.result,
          );
        }
        return settle(outcome);
      }

      const backoff = this.#backoff(attempt - 1, previousWait);
      const hint = outcome.retryAfterMs;
      let wait = hint !== undefined && hint > backoff ? hint : backoff;
      wait = wait > 0 ? Math.min(wait, this.maxDelayMs) : 0; // also turns NaN into 0
      previousWait = wait;
      if (this.#retryEvents.wanted) {
        this.#retryEvents.emit({ attempt: attempt + 1, delayMs: wait, cause: outcome });
      }
      // A zero wait skips the timer; the signal is checked either way (a listener may abort).
      if (wait > 0) await delay(wait, { signal, clock: this.#clock });
      else signal.throwIfAborted();

      const retryCtx = ctx.withAttempt(attempt + 1);
      try {
        const result = await next(req, retryCtx);
        const outcomeClass = classifier.classifyResult(result);
        if (outcomeClass === 'success') return result;
        outcome = resultOutcome(result, outcomeClass, attempt + 1);
      } catch (error) {
        outcome = errorOutcome(error, classifier.classifyError(error, signal), attempt + 1);
      }
    }
  }

  #retryable(outcome: RetryOutcome): boolean {
    const byDefault = isRetryableByDefault(outcome, this.maxDelayMs);
    return this.#shouldRetryOn === undefined ? byDefault : this.#shouldRetryOn(outcome, byDefault);
  }

  /** The wait before retry number `retry` (from 0), before any Retry-After hint. */
  #backoff(retry: number, previousWait: number): number {
    switch (this.jitter) {
      case 'full':
        return fullJitter(retry, this.baseDelayMs, this.maxDelayMs, this.#random);
      case 'decorrelated':
        return decorrelatedJitter(previousWait, this.baseDelayMs, this.maxDelayMs, this.#random);
      case 'none':
        return exponentialBackoff(retry, this.baseDelayMs, this.maxDelayMs);
    }
  }

  #emitGiveUp(outcome: RetryOutcome, reason: GiveUpReason): void {
    if (this.#giveUpEvents.wanted) {
      this.#giveUpEvents.emit({ attempts: outcome.attempt, reason, cause: outcome });
    }
  }
}

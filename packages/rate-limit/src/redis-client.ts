/**
 * Why: the Redis limiter needs two commands, EVALSHA and EVAL, and nothing else from a client.
 * Asking for exactly that — a two-method adapter — keeps ioredis an optional peer (it is never
 * imported, not even for its types) and lets node-redis, a cluster client or a test double plug
 * in with a few lines.
 */

/** An argument of a script: sent to Redis as a string. */
export type RedisScriptArg = string | number;

/**
 * What {@link RedisRateLimiter} needs from a Redis client: run a script by its SHA1 digest or by
 * its source. Both resolve with the script's reply and reject with the client's error; a script
 * unknown to the server must reject with an error whose message starts with `NOSCRIPT` (what
 * Redis replies), after which the limiter sends it with `eval`.
 *
 * @example
 * ```ts
 * // node-redis 4+:
 * const adapter: RedisScriptClient = {
 *   evalsha: (sha, keys, args) => client.evalSha(sha, { keys: [...keys], arguments: args.map(String) }),
 *   eval: (script, keys, args) => client.eval(script, { keys: [...keys], arguments: args.map(String) }),
 * };
 * ```
 */
export interface RedisScriptClient {
  /** `EVALSHA sha numkeys key… arg…` */
  evalsha(sha1: string, keys: readonly string[], args: readonly RedisScriptArg[]): Promise<unknown>;
  /** `EVAL script numkeys key… arg…` */
  eval(script: string, keys: readonly string[], args: readonly RedisScriptArg[]): Promise<unknown>;
}

/**
 * The part of an ioredis client (`Redis` or `Cluster`, version 5) that {@link fromIoredis} uses:
 * its `evalsha` and `eval` commands.
 */
export interface IoredisLike {
  /** ioredis's `evalsha(sha1, numkeys, ...keysAndArgs)`. */
  evalsha(sha1: string, numkeys: number, ...keysAndArgs: RedisScriptArg[]): Promise<unknown>;
  /** ioredis's `eval(script, numkeys, ...keysAndArgs)`. */
  eval(script: string, numkeys: number, ...keysAndArgs: RedisScriptArg[]): Promise<unknown>;
}

/**
 * Adapts an ioredis client for {@link RedisRateLimiter}.
 *
 * Recommended client options, so that a decision fails fast (and the limiter's failure policy
 * takes over) instead of waiting for a reconnection: `enableOfflineQueue: false`,
 * `maxRetriesPerRequest: 1`, `commandTimeout` a little above your latency budget, and an
 * `'error'` listener on the client.
 *
 * @example
 * ```ts
 * const redis = new Redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 200 });
 * redis.on('error', (error) => log.warn(error));
 * const limiter = new RedisRateLimiter({ client: fromIoredis(redis), limiter: new Gcra({ limit: 100, periodMs: 60_000 }) });
 * ```
 */
export function fromIoredis(client: IoredisLike): RedisScriptClient {
  return {
    evalsha: (sha1, keys, args) =>
      // The limiter's calls (one key, three or four arguments) without building spread arrays.
      keys.length === 1 && args.length === 3
        ? client.evalsha(
            sha1,
            1,
            keys[0] as string,
            args[0] as RedisScriptArg,
            args[1] as RedisScriptArg,
            args[2] as RedisScriptArg,
          )
        : client.evalsha(sha1, keys.length, ...keys, ...args),
    eval: (script, keys, args) => client.eval(script, keys.length, ...keys, ...args),
  };
}

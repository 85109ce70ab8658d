// Why: the per-client rate limit of the proxy (`REVERSE_PROXY_RATE_LIMIT_*`). One token bucket per
// client IP — the IP after the trusted-proxy policy, so a client cannot pick its own key with a
// forged X-Forwarded-For — held locally in a bounded KeyedRateLimiter, or shared by every proxy
// instance through Redis (RedisRateLimiter over ioredis), which falls back to a local limiter of
// the same rate while Redis is unreachable rather than failing requests.

import { fromIoredis, KeyedRateLimiter, RedisRateLimiter, TokenBucket } from '@proxykit/rate-limit';
import { Redis } from 'ioredis';
import type { ProxyConfig } from './proxy-config.js';

/** Most client IPs tracked at once by the local limiter (least recently seen forgotten first). */
export const MAX_RATE_LIMITED_CLIENTS = 100_000;

/** Decides, per client IP, whether a request may pass now. */
export interface ClientRateLimit {
  /** 0 when admitted, else the milliseconds after which the client would be admitted. */
  admit(clientIp: string): number | Promise<number>;
  /** Releases the Redis connection, if any. */
  close(): Promise<void>;
}

class LocalClientRateLimit implements ClientRateLimit {
  readonly #limiter: KeyedRateLimiter<string>;

  constructor(bucket: TokenBucket) {
    this.#limiter = new KeyedRateLimiter<string>({
      limiter: bucket,
      maxKeys: MAX_RATE_LIMITED_CLIENTS,
    });
  }

  admit(clientIp: string): number {
    return this.#limiter.admit(clientIp);
  }

  close(): Promise<void> {
    this.#limiter.clear();
    return Promise.resolve();
  }
}

class RedisClientRateLimit implements ClientRateLimit {
  readonly #redis: Redis;
  readonly #limiter: RedisRateLimiter;

  constructor(url: string, bucket: TokenBucket) {
    this.#redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 200,
      lazyConnect: false,
    });
    // Failures are handled by the limiter's fallback; ioredis would otherwise log each one.
    this.#redis.on('error', () => undefined);
    this.#limiter = new RedisRateLimiter({
      client: fromIoredis(this.#redis),
      limiter: bucket,
      keyPrefix: 'proxykit:proxy:client:',
      onStoreFailure: { fallback: 'local', share: 1, maxKeys: MAX_RATE_LIMITED_CLIENTS },
    });
  }

  admit(clientIp: string): Promise<number> {
    return this.#limiter.admit(clientIp);
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
    await Promise.resolve();
  }
}

/**
 * The rate limit of `config`, or `undefined` when `rateLimitRps` is 0. The bucket holds
 * `rateLimitBurst` requests (the rate itself when 0) and refills at `rateLimitRps`.
 */
export function createClientRateLimit(config: ProxyConfig): ClientRateLimit | undefined {
  if (config.rateLimitRps <= 0) return undefined;
  const bucket = new TokenBucket({
    capacity: config.rateLimitBurst > 0 ? config.rateLimitBurst : Math.max(1, config.rateLimitRps),
    refillPerSecond: config.rateLimitRps,
  });
  return config.rateLimitRedisUrl === ''
    ? new LocalClientRateLimit(bucket)
    : new RedisClientRateLimit(config.rateLimitRedisUrl, bucket);
}

/** `Retry-After` in whole seconds for a wait of `retryAfterMs` (rounded up, at least 1). */
export function retryAfterSeconds(retryAfterMs: number): string {
  return String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

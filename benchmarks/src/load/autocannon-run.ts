/**
 * Why: the proxy suite drives every HTTP target the same way: autocannon's programmatic API,
 * a fixed number of keep-alive connections, one request in flight per connection, for a fixed
 * time. autocannon's own latency histogram keeps whole milliseconds, too coarse for a proxy
 * that adds a fraction of one, so the response times it reports per response (in fractional
 * milliseconds) are kept here and reduced to percentiles.
 */
import { percentile } from './stats.js';

/** What one load run measured. */
export interface HttpLoadResult {
  /** Responses received per second over the run. */
  readonly requestsPerSec: number;
  /** Latency percentiles and maximum, in milliseconds, over all responses. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  /** Responses with a status outside 2xx. */
  readonly non2xx: number;
  /** Responses received. */
  readonly responses: number;
}

/** Options of {@link runAutocannon}. */
export interface HttpLoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
}

/** Loads `url` and resolves with what was measured. */
export async function runAutocannon(options: HttpLoadOptions): Promise<HttpLoadResult> {
  // Imported here: every benchmark process loads every suite file, and only this one needs it.
  const { default: autocannon } = await import('autocannon');
  let times = new Float64Array(1 << 16);
  let count = 0;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        pipelining: 1,
        duration: options.durationSeconds,
        timeout: 10,
      },
      (error: unknown, result) => {
        if (error !== null && error !== undefined) {
          reject(error instanceof Error ? error : new Error('autocannon failed', { cause: error }));
          return;
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const sorted = times.subarray(0, count).sort();
        resolve({
          requestsPerSec: count / (result.duration > 0 ? result.duration : seconds),
          p50Ms: percentile(sorted, 0.5),
          p99Ms: percentile(sorted, 0.99),
          maxMs: sorted[count - 1] ?? NaN,
          errors: result.errors,
          non2xx: result.non2xx,
          responses: count,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      if (count === times.length) {
        const grown = new Float64Array(times.length * 2);
        grown.set(times);
        times = grown;
      }
      times[count++] = responseTime;
    });
  });
}

/**
 * Why: a retry repeats the request, which is safe only when repeating it changes nothing more
 * than doing it once. RFC 9110 §9.2.2 names the HTTP methods that promise this; a proxy retries
 * those (and only when it can replay the body), as Envoy and HAProxy do by default. This is the
 * predicate for a {@link RetryLayerOptions.shouldRetry} hook.
 */

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * True for the methods RFC 9110 defines as idempotent: GET, HEAD, OPTIONS, TRACE, PUT and
 * DELETE (in any letter case). POST, PATCH, CONNECT and unknown methods are not.
 *
 * @example
 * ```ts
 * new RetryLayer({ shouldRetry: (req: { method: string }) => isIdempotentMethod(req.method) });
 * ```
 */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT.has(method) || IDEMPOTENT.has(method.toUpperCase());
}

/**
 * Why: `/metrics` and `/status` reveal the topology and health of the upstreams, so the original
 * reverse-proxy design let operators protect them with a bearer token
 * (`REVERSE_PROXY_METRICS_BEARER_TOKEN`). The comparison must not leak the token through timing:
 * both sides are hashed to fixed-length SHA-256 digests and compared with
 * `crypto.timingSafeEqual`, so neither the position of the first wrong byte nor the token's length
 * changes how long a refusal takes (the same approach as Go's `subtle.ConstantTimeCompare` over
 * digests in Prometheus' own web config).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Headers of a 401 answer from `/metrics` or `/status` (RFC 6750 §3). */
export const UNAUTHORIZED_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'www-authenticate': 'Bearer realm="proxykit"',
});

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * True when `authorization` (the request's `Authorization` header) carries exactly `token` as a
 * bearer credential, or when `token` is empty (no protection configured). The scheme is matched
 * case-insensitively (RFC 9110 §11.1); the token is compared in constant time.
 */
export function isAuthorized(authorization: string | undefined, token: string): boolean {
  if (token === '') return true;
  const match = authorization === undefined ? null : BEARER.exec(authorization);
  // Hash something even without a credential, so a missing header costs what a wrong one does.
  const presented = match?.[1] ?? '';
  const equal = timingSafeEqual(digest(presented), digest(token));
  return equal && match !== null;
}

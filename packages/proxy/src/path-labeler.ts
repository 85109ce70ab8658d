/**
 * Why: a metric label per raw request path is a cardinality explosion waiting to happen
 * (`/users/1`, `/users/2`, … each a new time series), the failure the original reverse-proxy
 * design guarded against with its path normalisation. This file is the one normalisation used for
 * labels: identifier-looking segments collapse to placeholders the way Envoy's and Kong's route
 * stats group requests (numeric ids → `:id`, UUIDs → `:uuid`, long hex ids → `:hex`), the query is
 * dropped, and a hard cap on distinct values turns everything past it into `other`, so no client
 * can grow the registry without bound.
 */
import { requireInteger } from '@proxykit/core';

/** Label given to paths once the cap on distinct labels is reached, and to non-path targets. */
export const OTHER_PATH_LABEL = 'other';

/** Default cap on distinct path labels, {@link OTHER_PATH_LABEL} included. */
export const DEFAULT_MAX_PATH_LABELS = 200;

/** Longest normalised path kept as a label; longer ones become {@link OTHER_PATH_LABEL}. */
export const MAX_PATH_LABEL_LENGTH = 256;

/** Hex segments at least this long are treated as ids (`:hex`): Mongo ObjectIds, SHA digests. */
export const MIN_HEX_ID_LENGTH = 16;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isHexDigit(code: number): boolean {
  return isDigit(code) || (code >= 97 && code <= 102) || (code >= 65 && code <= 70);
}

/** The placeholder for one path segment, or the segment itself when it does not look like an id. */
function normalizeSegment(segment: string): string {
  const length = segment.length;
  if (length === 0) return segment;
  let digits = true;
  let hex = true;
  for (let i = 0; i < length && (digits || hex); i++) {
    const code = segment.charCodeAt(i);
    if (!isDigit(code)) digits = false;
    if (!isHexDigit(code)) hex = false;
  }
  if (digits) return ':id';
  if (hex && length >= MIN_HEX_ID_LENGTH) return ':hex';
  if (length === 36 && UUID.test(segment)) return ':uuid';
  return segment;
}

/**
 * Normalises a request target for use as a metric label, without any cap: drops the query and
 * fragment, and replaces numeric segments with `:id`, UUIDs with `:uuid` and hex strings of at least
 * {@link MIN_HEX_ID_LENGTH} characters with `:hex`. `*` (the `OPTIONS *` target) is kept; anything
 * else that does not start with `/` (absolute-form targets), or whose result is longer than
 * {@link MAX_PATH_LABEL_LENGTH}, becomes {@link OTHER_PATH_LABEL}.
 *
 * @example
 * ```ts
 * normalizePath('/users/123/orders?page=2'); // '/users/:id/orders'
 * ```
 */
export function normalizePath(target: string): string {
  let end = target.length;
  const query = target.indexOf('?');
  if (query !== -1) end = query;
  const fragment = target.indexOf('#');
  if (fragment !== -1 && fragment < end) end = fragment;
  const path = end === target.length ? target : target.slice(0, end);
  if (path === '*') return path;
  if (path.charCodeAt(0) !== 47 /* '/' */) return OTHER_PATH_LABEL;
  const segments = path.split('/');
  let changed = false;
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] ?? '';
    const normalized = normalizeSegment(segment);
    if (normalized !== segment) {
      segments[i] = normalized;
      changed = true;
    }
  }
  const label = changed ? segments.join('/') : path;
  return label.length > MAX_PATH_LABEL_LENGTH ? OTHER_PATH_LABEL : label;
}

/** Options of {@link PathLabeler}. */
export interface PathLabelerOptions {
  /**
   * Most distinct labels ever returned, {@link OTHER_PATH_LABEL} included: once `maxLabels - 1`
   * distinct normalised paths have been seen, every new one is labelled `other`. Integer in
   * [1, 100000]; default {@link DEFAULT_MAX_PATH_LABELS}.
   */
  readonly maxLabels?: number;
}

/**
 * Turns request paths into bounded metric labels: {@link normalizePath} plus a hard cap on the
 * number of distinct values. The first paths seen keep their label for the life of the labeler.
 */
export class PathLabeler {
  readonly #maxKnown: number;
  readonly #known = new Set<string>();

  /** Validates the options; a bad `maxLabels` throws a RangeError naming it. */
  constructor(options: PathLabelerOptions = {}) {
    const maxLabels = requireInteger(
      'PathLabeler',
      'maxLabels',
      options.maxLabels ?? DEFAULT_MAX_PATH_LABELS,
      1,
      100_000,
    );
    this.#maxKnown = maxLabels - 1;
  }

  /** The label for `target` (a path, with or without query). */
  label(target: string): string {
    const label = normalizePath(target);
    if (this.#known.has(label)) return label;
    if (label === OTHER_PATH_LABEL || this.#known.size >= this.#maxKnown) return OTHER_PATH_LABEL;
    this.#known.add(label);
    return label;
  }

  /** Number of distinct labels other than {@link OTHER_PATH_LABEL} handed out so far. */
  get size(): number {
    return this.#known.size;
  }
}

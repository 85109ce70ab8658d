// Why: one typed shape for everything the forwarder can be told, shared by the library entry
// (`createForwarder(config)`), the environment loader (`L4_*`) and the CLI. Defaults and ranges
// live here, in one place, so the README table and the code cannot disagree. The environment is
// read the way the HTTP proxy reads `REVERSE_PROXY_*`: every value is checked at start-up and a
// bad one stops it with one line naming the variable, the value and what is allowed.

import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { MAX_TIMER_DELAY_MS, requireInteger, requireNumber } from '@proxykit/core';

/** Load-balancing policies the forwarder offers (`L4_LB`). */
export const L4_LB_POLICIES = ['round_robin', 'random', 'least_conn', 'p2c', 'maglev'] as const;

/** One of {@link L4_LB_POLICIES}. `maglev` hashes the client's IP address (source affinity). */
export type L4LbPolicy = (typeof L4_LB_POLICIES)[number];

/** PROXY protocol versions the forwarder can send to backends (`L4_PROXY_PROTOCOL`). */
export const PROXY_PROTOCOL_MODES = ['off', 'v1', 'v2'] as const;

/** One of {@link PROXY_PROTOCOL_MODES}. */
export type ProxyProtocolMode = (typeof PROXY_PROTOCOL_MODES)[number];

/** A host and a TCP port. */
export interface ListenAddress {
  /** Interface address or host name, e.g. `127.0.0.1` or `::1`. */
  readonly host: string;
  /** TCP port; 0 asks the system for a free one. */
  readonly port: number;
}

/** The complete, validated configuration of a forwarder (see {@link resolveForwarderConfig}). */
export interface ForwarderConfig {
  /** Where clients connect (`L4_LISTEN`; default `127.0.0.1:8081`). */
  readonly listen: ListenAddress;
  /** Backends as `host:port` (`[v6]:port` for IPv6), at least one, no duplicates (`L4_BACKENDS`). */
  readonly backends: readonly string[];
  /** Worker processes; 1 forwards in the calling process (`L4_WORKERS`; library default 1, CLI default: available cores). */
  readonly workers: number;
  /** Where `/metrics` and `/healthz` are served, or `undefined` for nowhere (`L4_METRICS_LISTEN`; library default none, CLI default `127.0.0.1:8082`). */
  readonly metricsListen: ListenAddress | undefined;
  /** Pre-connected idle sockets kept per backend in each worker; 0 turns the warm pool off (`L4_WARM_POOL_SIZE`). */
  readonly warmPoolSize: number;
  /** Longest backend TCP connect, in ms (`L4_CONNECT_TIMEOUT_MS`). */
  readonly connectTimeoutMs: number;
  /** A connection with no byte either way for this long is closed, in ms; 0 never (`L4_IDLE_TIMEOUT_MS`). */
  readonly idleTimeoutMs: number;
  /** Load-balancing policy (`L4_LB`). */
  readonly lb: L4LbPolicy;
  /** Active TCP health checks on (`L4_HEALTHCHECK`). */
  readonly healthCheck: boolean;
  /** Seconds between two health probes of one backend (`L4_HEALTHCHECK_INTERVAL_SECS`). */
  readonly healthCheckIntervalSecs: number;
  /** Failed probes in a row that take a backend out (HAProxy's `fall`). */
  readonly unhealthyThreshold: number;
  /** Passed probes in a row that bring it back (HAProxy's `rise`). */
  readonly healthyThreshold: number;
  /** Failed connects in a row that open a backend's circuit breaker. */
  readonly breakerFailureThreshold: number;
  /** How long an open breaker keeps its backend out before one connect is tried, in ms. */
  readonly breakerOpenMs: number;
  /** Seconds open connections get to finish after SIGTERM/SIGINT (`L4_SHUTDOWN_GRACE_SECONDS`). */
  readonly shutdownGraceSeconds: number;
  /** PROXY protocol header sent to backends before any client byte (`L4_PROXY_PROTOCOL`). */
  readonly proxyProtocol: ProxyProtocolMode;
}

/** Library defaults for every {@link ForwarderConfig} field except `backends`. */
export const DEFAULT_FORWARDER_CONFIG: Omit<ForwarderConfig, 'backends'> = {
  listen: { host: '127.0.0.1', port: 8081 },
  workers: 1,
  metricsListen: undefined,
  warmPoolSize: 4,
  connectTimeoutMs: 1_000,
  idleTimeoutMs: 300_000,
  lb: 'round_robin',
  healthCheck: true,
  healthCheckIntervalSecs: 5,
  unhealthyThreshold: 3,
  healthyThreshold: 2,
  breakerFailureThreshold: 5,
  breakerOpenMs: 10_000,
  shutdownGraceSeconds: 30,
  proxyProtocol: 'off',
};

/** What {@link resolveForwarderConfig} accepts: `backends` and any other field to override. */
export type ForwarderOptions = Partial<Omit<ForwarderConfig, 'listen' | 'metricsListen'>> & {
  /** Where clients connect: `{ host, port }` or `'host:port'`. */
  readonly listen?: ListenAddress | string;
  /** Where metrics are served: `{ host, port }`, `'host:port'`, or `undefined` for nowhere. */
  readonly metricsListen?: ListenAddress | string | undefined;
  /** Backends as `host:port`. */
  readonly backends: readonly string[];
};

/** Most worker processes. */
export const MAX_WORKERS = 1_024;
/** Largest warm pool per backend and worker. */
export const MAX_WARM_POOL_SIZE = 1_000;

/** A bad `L4_*` environment variable: the message is one line naming it, its value and what is allowed. */
export class L4ConfigError extends Error {
  /** Always `'L4ConfigError'`. */
  override readonly name: string = 'L4ConfigError';

  /**
   * @param variable the environment variable's name
   * @param value the value it had
   * @param allowed what it may be
   */
  constructor(
    readonly variable: string,
    readonly value: string,
    readonly allowed: string,
  ) {
    super(`${variable}=${JSON.stringify(value)} is not valid: expected ${allowed}`);
  }
}

const OWNER = 'createForwarder';

/**
 * Parses `host:port`, `[v6]:port` or `v6addr` with a trailing `:port`; returns undefined when
 * malformed. `minPort` is 0 for listen addresses, 1 for backends.
 */
export function parseHostPort(input: string, minPort: number): ListenAddress | undefined {
  const text = input.trim();
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return undefined;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return undefined; // IPv6 must be bracketed
    if (!/^[A-Za-z0-9.-]+$/.test(host)) return undefined;
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < minPort || port > 65_535) return undefined;
  return { host, port };
}

/** `host:port` of an address, with brackets around an IPv6 host. */
export function formatHostPort(address: ListenAddress): string {
  const host = isIP(address.host) === 6 ? `[${address.host}]` : address.host;
  return `${host}:${String(address.port)}`;
}

function requireAddress(
  option: string,
  value: ListenAddress | string,
  minPort: number,
): ListenAddress {
  if (typeof value === 'string') {
    const parsed = parseHostPort(value, minPort);
    if (parsed === undefined) {
      throw new RangeError(
        `${OWNER}: ${option} must be host:port with a port in [${String(minPort)}, 65535], got ${JSON.stringify(value)}`,
      );
    }
    return parsed;
  }
  if (typeof value !== 'object' || typeof value.host !== 'string' || value.host === '') {
    throw new TypeError(`${OWNER}: ${option} must be { host, port } or 'host:port'`);
  }
  requireInteger(OWNER, `${option}.port`, value.port, minPort, 65_535);
  return { host: value.host, port: value.port };
}

function requireOneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new RangeError(
      `${OWNER}: ${option} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

function requireBackends(value: unknown): readonly string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RangeError(`${OWNER}: backends must be a non-empty list of host:port`);
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const item of value as unknown[]) {
    const parsed = typeof item === 'string' ? parseHostPort(item, 1) : undefined;
    if (parsed === undefined) {
      throw new RangeError(
        `${OWNER}: backends must be host:port with a port in [1, 65535], got ${JSON.stringify(item)}`,
      );
    }
    const name = formatHostPort(parsed);
    if (seen.has(name)) throw new RangeError(`${OWNER}: backends lists ${name} twice`);
    seen.add(name);
    out.push(name);
  }
  return out;
}

/**
 * Fills in the defaults and validates every field.
 *
 * @example
 * ```ts
 * const config = resolveForwarderConfig({ listen: '127.0.0.1:0', backends: ['127.0.0.1:6379'] });
 * ```
 *
 * @throws RangeError or TypeError naming the first invalid field and what it may be
 */
export function resolveForwarderConfig(options: ForwarderOptions): ForwarderConfig {
  const d = DEFAULT_FORWARDER_CONFIG;
  const metrics = options.metricsListen;
  return {
    listen: requireAddress('listen', options.listen ?? d.listen, 0),
    backends: requireBackends(options.backends),
    workers: requireInteger(OWNER, 'workers', options.workers ?? d.workers, 1, MAX_WORKERS),
    metricsListen: metrics === undefined ? undefined : requireAddress('metricsListen', metrics, 0),
    warmPoolSize: requireInteger(
      OWNER,
      'warmPoolSize',
      options.warmPoolSize ?? d.warmPoolSize,
      0,
      MAX_WARM_POOL_SIZE,
    ),
    connectTimeoutMs: requireNumber(
      OWNER,
      'connectTimeoutMs',
      options.connectTimeoutMs ?? d.connectTimeoutMs,
      0,
      MAX_TIMER_DELAY_MS,
    ),
    idleTimeoutMs: requireNumber(
      OWNER,
      'idleTimeoutMs',
      options.idleTimeoutMs ?? d.idleTimeoutMs,
      0,
      MAX_TIMER_DELAY_MS,
      true,
    ),
    lb: requireOneOf('lb', options.lb ?? d.lb, L4_LB_POLICIES),
    healthCheck: requireBoolean('healthCheck', options.healthCheck ?? d.healthCheck),
    healthCheckIntervalSecs: requireNumber(
      OWNER,
      'healthCheckIntervalSecs',
      options.healthCheckIntervalSecs ?? d.healthCheckIntervalSecs,
      0,
      86_400,
    ),
    unhealthyThreshold: requireInteger(
      OWNER,
      'unhealthyThreshold',
      options.unhealthyThreshold ?? d.unhealthyThreshold,
      1,
      100,
    ),
    healthyThreshold: requireInteger(
      OWNER,
      'healthyThreshold',
      options.healthyThreshold ?? d.healthyThreshold,
      1,
      100,
    ),
    breakerFailureThreshold: requireInteger(
      OWNER,
      'breakerFailureThreshold',
      options.breakerFailureThreshold ?? d.breakerFailureThreshold,
      1,
      1_000,
    ),
    breakerOpenMs: requireNumber(
      OWNER,
      'breakerOpenMs',
      options.breakerOpenMs ?? d.breakerOpenMs,
      0,
      MAX_TIMER_DELAY_MS,
    ),
    shutdownGraceSeconds: requireNumber(
      OWNER,
      'shutdownGraceSeconds',
      options.shutdownGraceSeconds ?? d.shutdownGraceSeconds,
      0,
      3_600,
      true,
    ),
    proxyProtocol: requireOneOf(
      'proxyProtocol',
      options.proxyProtocol ?? d.proxyProtocol,
      PROXY_PROTOCOL_MODES,
    ),
  };
}

function requireBoolean(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`${OWNER}: ${option} must be a boolean, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Environment defaults that differ from the library's (see {@link loadForwarderConfigFromEnv}). */
export const ENV_DEFAULTS = {
  /** `L4_WORKERS`: one per core. */
  workers: (): number => Math.min(MAX_WORKERS, availableParallelism()),
  /** `L4_METRICS_LISTEN`. */
  metricsListen: '127.0.0.1:8082',
} as const;

/** Environment variables by name, as `process.env`. */
export type L4Environment = Readonly<Record<string, string | undefined>>;

type Env = L4Environment;

function envString(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function envInteger(env: Env, name: string, min: number, max: number): number | undefined {
  const raw = envString(env, name);
  if (raw === undefined) return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new L4ConfigError(name, raw, `an integer in [${String(min)}, ${String(max)}]`);
  }
  return value;
}

function envNumber(
  env: Env,
  name: string,
  min: number,
  max: number,
  inclusiveMin: boolean,
): number | undefined {
  const raw = envString(env, name);
  if (raw === undefined) return undefined;
  const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  const ok = !Number.isNaN(value) && (inclusiveMin ? value >= min : value > min) && value <= max;
  if (!ok) {
    throw new L4ConfigError(
      name,
      raw,
      `a number in ${inclusiveMin ? '[' : '('}${String(min)}, ${String(max)}]`,
    );
  }
  return value;
}

function envChoice<T extends string>(env: Env, name: string, allowed: readonly T[]): T | undefined {
  const raw = envString(env, name);
  if (raw === undefined) return undefined;
  const value = raw.toLowerCase();
  if (!(allowed as readonly string[]).includes(value)) {
    throw new L4ConfigError(name, raw, `one of ${allowed.join(', ')}`);
  }
  return value as T;
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

function envBoolean(env: Env, name: string): boolean | undefined {
  const raw = envString(env, name);
  if (raw === undefined) return undefined;
  const value = raw.toLowerCase();
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new L4ConfigError(name, raw, `a boolean (${[...TRUE, ...FALSE].join(', ')})`);
}

function envAddress(env: Env, name: string, fallback: string, allowOff: boolean) {
  const raw = envString(env, name) ?? fallback;
  if (allowOff && raw.toLowerCase() === 'off') return undefined;
  const parsed = parseHostPort(raw, 0);
  if (parsed === undefined) {
    throw new L4ConfigError(
      name,
      raw,
      `host:port with a port in [0, 65535] (IPv6 as [addr]:port)${allowOff ? ', or off' : ''}`,
    );
  }
  return parsed;
}

/**
 * Reads the `L4_*` environment variables into a validated configuration. Unset or empty
 * variables take their defaults; `L4_BACKENDS` is required.
 *
 * @throws L4ConfigError naming the first bad variable, its value and what is allowed
 */
export function loadForwarderConfigFromEnv(env: L4Environment = process.env): ForwarderConfig {
  const d = DEFAULT_FORWARDER_CONFIG;
  const backendsRaw = envString(env, 'L4_BACKENDS');
  const backendsAllowed =
    'a comma-separated list of host:port (IPv6 as [addr]:port), ports in [1, 65535], no duplicates';
  if (backendsRaw === undefined) throw new L4ConfigError('L4_BACKENDS', '', backendsAllowed);
  const backends = backendsRaw.split(',').map((item) => item.trim());
  const names = new Set<string>();
  for (const item of backends) {
    const parsed = parseHostPort(item, 1);
    if (parsed === undefined || names.has(formatHostPort(parsed))) {
      throw new L4ConfigError('L4_BACKENDS', backendsRaw, backendsAllowed);
    }
    names.add(formatHostPort(parsed));
  }
  const options: ForwarderOptions = {
    listen: envAddress(env, 'L4_LISTEN', formatHostPort(d.listen), false) ?? d.listen,
    backends,
    workers: envInteger(env, 'L4_WORKERS', 1, MAX_WORKERS) ?? ENV_DEFAULTS.workers(),
    metricsListen: envAddress(env, 'L4_METRICS_LISTEN', ENV_DEFAULTS.metricsListen, true),
    warmPoolSize: envInteger(env, 'L4_WARM_POOL_SIZE', 0, MAX_WARM_POOL_SIZE) ?? d.warmPoolSize,
    connectTimeoutMs:
      envInteger(env, 'L4_CONNECT_TIMEOUT_MS', 1, MAX_TIMER_DELAY_MS) ?? d.connectTimeoutMs,
    idleTimeoutMs: envInteger(env, 'L4_IDLE_TIMEOUT_MS', 0, MAX_TIMER_DELAY_MS) ?? d.idleTimeoutMs,
    lb: envChoice(env, 'L4_LB', L4_LB_POLICIES) ?? d.lb,
    healthCheck: envBoolean(env, 'L4_HEALTHCHECK') ?? d.healthCheck,
    healthCheckIntervalSecs:
      envNumber(env, 'L4_HEALTHCHECK_INTERVAL_SECS', 0, 86_400, false) ?? d.healthCheckIntervalSecs,
    shutdownGraceSeconds:
      envNumber(env, 'L4_SHUTDOWN_GRACE_SECONDS', 0, 3_600, true) ?? d.shutdownGraceSeconds,
    proxyProtocol: envChoice(env, 'L4_PROXY_PROTOCOL', PROXY_PROTOCOL_MODES) ?? d.proxyProtocol,
  };
  return resolveForwarderConfig(options);
}

/** The `L4_*` variables {@link loadForwarderConfigFromEnv} reads. */
export const L4_ENV_VARIABLES: readonly string[] = [
  'L4_LISTEN',
  'L4_BACKENDS',
  'L4_WORKERS',
  'L4_METRICS_LISTEN',
  'L4_WARM_POOL_SIZE',
  'L4_CONNECT_TIMEOUT_MS',
  'L4_IDLE_TIMEOUT_MS',
  'L4_LB',
  'L4_HEALTHCHECK',
  'L4_HEALTHCHECK_INTERVAL_SECS',
  'L4_SHUTDOWN_GRACE_SECONDS',
  'L4_PROXY_PROTOCOL',
];

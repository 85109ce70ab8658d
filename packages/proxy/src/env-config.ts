/**
 * Why: the proxy is configured by environment, with the `REVERSE_PROXY_*` names of the original
 * reverse-proxy design so its users can switch without rewriting anything, and by options when it
 * is used as a library. Both go through the same table of settings, so a value means the same and
 * is checked the same way whichever way it arrives. Every value is validated at start-up and the
 * first bad one stops it with one line naming the setting, the value and what is allowed; a
 * `REVERSE_PROXY_*` variable nobody knows is an error too (with the closest known name), because a
 * typo silently ignored is a setting silently lost. A blank variable means "use the default", as
 * `docker run -e NAME=` and compose's `${NAME}` expansion produce them.
 */
import { isIP } from 'node:net';
import { ConfigError } from './config-error.js';
import {
  DEFAULT_PROXY_CONFIG,
  LB_ALGORITHMS,
  LOG_LEVELS,
  type ListenAddress,
  type ProxyConfig,
} from './proxy-config.js';
import { TrustedProxies } from './trusted-proxies.js';

/** One environment variable the proxy reads, as the README documents it. */
export interface ProxyEnvVariable {
  /** The variable, e.g. `REVERSE_PROXY_MAX_IN_FLIGHT`. */
  readonly name: string;
  /** The {@link ProxyConfig} field it sets, e.g. `maxInFlight`. */
  readonly option: keyof ProxyConfig;
  /** Its default, as it would be written in the environment (empty when the default is empty). */
  readonly defaultValue: string;
  /** What is allowed, completing "expected …" in error messages. */
  readonly allowed: string;
  /** What it does. */
  readonly description: string;
}

/** Options of {@link configFromEnv}. */
export interface ConfigFromEnvOptions {
  /** Further `REVERSE_PROXY_*` names that belong to the caller and are not errors. */
  readonly ignoredVariables?: readonly string[];
}

/** A parse or check failure: what is wrong with the value, when more than "not allowed". */
class Invalid {
  constructor(readonly detail?: string) {}
}

type Outcome = unknown;

interface Setting {
  readonly name: string;
  readonly option: keyof ProxyConfig;
  readonly allowed: string;
  readonly description: string;
  /** Hide the value in messages (URL passwords are always hidden). */
  readonly secret?: boolean;
  /** Text from the environment (trimmed, not blank) to a value, or Invalid. */
  fromText(text: string): Outcome;
  /** A value from a library caller, checked and normalised, or Invalid. */
  check(value: unknown): Outcome;
  /** The default as it would be written in the environment. */
  toText(value: unknown): string;
}

const PREFIX = 'REVERSE_PROXY_';

// ---------------------------------------------------------------------------------------------
// Kinds of setting.

function integer(
  min: number,
  max: number,
): Pick<Setting, 'allowed' | 'fromText' | 'check' | 'toText'> {
  const check = (value: unknown): Outcome =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
      ? value
      : new Invalid();
  return {
    allowed: `an integer from ${min} to ${max}`,
    fromText: (text) => (/^[+-]?\d+$/.test(text) ? check(Number(text)) : new Invalid()),
    check,
    toText: String,
  };
}

function decimal(
  min: number,
  max: number,
  minInclusive: boolean,
): Pick<Setting, 'allowed' | 'fromText' | 'check' | 'toText'> {
  const check = (value: unknown): Outcome =>
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (minInclusive ? value >= min : value > min) &&
    value <= max
      ? value
      : new Invalid();
  return {
    allowed: minInclusive
      ? `a number from ${min} to ${max}`
      : `a number greater than ${min} and at most ${max}`,
    fromText: (text) =>
      /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/.test(text) ? check(Number(text)) : new Invalid(),
    check,
    toText: String,
  };
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

function boolean(): Pick<Setting, 'allowed' | 'fromText' | 'check' | 'toText'> {
  return {
    allowed: 'true or false (also 1/0, yes/no, on/off)',
    fromText: (text) => {
      const word = text.toLowerCase();
      return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : new Invalid();
    },
    check: (value) => (typeof value === 'boolean' ? value : new Invalid()),
    toText: String,
  };
}

function oneOf(
  values: readonly string[],
): Pick<Setting, 'allowed' | 'fromText' | 'check' | 'toText'> {
  const check = (value: unknown): Outcome =>
    typeof value === 'string' && values.includes(value) ? value : new Invalid();
  return {
    allowed: `one of ${values.join(', ')}`,
    fromText: (text) => check(text.toLowerCase()),
    check,
    toText: String,
  };
}

/** A comma-separated list: items trimmed, empty items dropped. */
function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function list(
  allowed: string,
  item: (text: string) => string | undefined,
  whole: (items: readonly string[]) => string | undefined = () => undefined,
): Pick<Setting, 'allowed' | 'fromText' | 'check' | 'toText'> {
  const check = (value: unknown): Outcome => {
    if (!Array.isArray(value)) return new Invalid('not a list');
    const items: string[] = [];
    for (const entry of value as unknown[]) {
      if (typeof entry !== 'string') return new Invalid(`${describe(entry)} is not a string`);
      const trimmed = entry.trim();
      const problem = item(trimmed);
      if (problem !== undefined) return new Invalid(`${JSON.stringify(trimmed)} ${problem}`);
      items.push(trimmed);
    }
    const problem = whole(items);
    return problem === undefined ? Object.freeze(items) : new Invalid(problem);
  };
  return {
    allowed,
    fromText: (text) => check(splitList(text)),
    check,
    toText: (value) => (value as readonly string[]).join(','),
  };
}

function text(
  allowed: string,
  problemOf: (value: string) => string | undefined,
): Pick<Setting, 'allowed' | 'fromText' | 'check' | 'toText'> {
  const check = (value: unknown): Outcome => {
    if (typeof value !== 'string') return new Invalid();
    const problem = problemOf(value);
    return problem === undefined ? value : new Invalid(problem === '' ? undefined : problem);
  };
  return { allowed, fromText: check, check, toText: String };
}

// ---------------------------------------------------------------------------------------------
// Values with a syntax of their own.

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function listenHostOk(host: string): boolean {
  return isIP(host) !== 0 || HOSTNAME.test(host);
}

function portOf(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65_535 ? port : undefined;
}

function parseListen(text: string): ListenAddress | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end === -1 || text[end + 1] !== ':') return undefined;
    host = text.slice(1, end);
    if (isIP(host) !== 6) return undefined;
    portText = text.slice(end + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) return undefined;
    host = text.slice(0, colon);
    if (host.includes(':') || !listenHostOk(host)) return undefined;
    portText = text.slice(colon + 1);
  }
  const port = portOf(portText);
  return port === undefined ? undefined : Object.freeze({ host, port });
}

function checkListen(value: unknown): Outcome {
  if (typeof value !== 'object' || value === null) return new Invalid();
  const { host, port } = value as { host?: unknown; port?: unknown };
  if (typeof host !== 'string' || !listenHostOk(host)) return new Invalid();
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    return new Invalid();
  }
  return Object.freeze({ host, port });
}

function upstreamProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'is not http: or https:';
  if (url.hostname === '') return 'has no host';
  if (url.username !== '' || url.password !== '') return 'has credentials';
  if (text.includes('?') || text.includes('#')) return 'has a query or fragment';
  if (/\s/.test(text)) return 'contains white space';
  return undefined;
}

function distinctOrigins(items: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const item of items) {
    const origin = new URL(item).origin;
    if (seen.has(origin)) return `${origin} is listed twice`;
    seen.add(origin);
  }
  return undefined;
}

function trustedProxyProblem(entry: string): string | undefined {
  try {
    TrustedProxies.parse([entry]);
    return undefined;
  } catch {
    return 'is not an address or CIDR';
  }
}

function hasControlOrSpace(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f) return true;
  }
  return false;
}

function healthPathProblem(value: string): string | undefined {
  return value.startsWith('/') &&
    value.length <= 2048 &&
    !hasControlOrSpace(value) &&
    !value.includes('#')
    ? undefined
    : '';
}

function tokenProblem(value: string): string | undefined {
  return value.length <= 4096 && (value === '' || !hasControlOrSpace(value)) ? undefined : '';
}

function redisUrlProblem(value: string): string | undefined {
  if (value === '') return undefined;
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== ''
      ? undefined
      : '';
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// The table, in the order the README lists it.

const SETTINGS: readonly Setting[] = [
  {
    name: 'REVERSE_PROXY_LISTEN',
    option: 'listen',
    allowed: 'host:port or [ipv6]:port, with a port from 0 to 65535',
    description: 'Address and port to listen on; port 0 picks a free one.',
    fromText: (value) => parseListen(value) ?? new Invalid(),
    check: checkListen,
    toText: (value) => {
      const { host, port } = value as ListenAddress;
      return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    },
  },
  {
    name: 'REVERSE_PROXY_UPSTREAMS',
    option: 'upstreams',
    ...list(
      'comma-separated http:// or https:// URLs with a host, distinct origins and no credentials, query or fragment',
      upstreamProblem,
      distinctOrigins,
    ),
    description:
      'Upstream base URLs. Unset: the CLI starts two embedded demo upstreams and says so.',
  },
  {
    name: 'REVERSE_PROXY_CONNECT_TIMEOUT_MS',
    option: 'connectTimeoutMs',
    ...integer(1, 600_000),
    description:
      'Upstream TCP (and TLS) connect timeout; a connect failure or timeout answers 502.',
  },
  {
    name: 'REVERSE_PROXY_REQUEST_TIMEOUT_MS',
    option: 'requestTimeoutMs',
    ...integer(1, 86_400_000),
    description:
      'Deadline for the upstream’s answer, counted from the request’s arrival and covering every retry; expiry answers 504.',
  },
  {
    name: 'REVERSE_PROXY_MAX_IN_FLIGHT',
    option: 'maxInFlight',
    ...integer(1, 1_000_000),
    description: 'Most requests proxied at once; beyond it, 503 with Retry-After (never queued).',
  },
  {
    name: 'REVERSE_PROXY_STREAM_LARGE_BODIES',
    option: 'streamLargeBodies',
    ...boolean(),
    description: 'Stream request bodies above the threshold both ways instead of buffering them.',
  },
  {
    name: 'REVERSE_PROXY_STREAM_THRESHOLD_BYTES',
    option: 'streamThresholdBytes',
    ...integer(0, 1_073_741_824),
    description: 'Bodies up to this size are buffered, so that a retry can replay them.',
  },
  {
    name: 'REVERSE_PROXY_HEALTHCHECK',
    option: 'healthCheck',
    ...boolean(),
    description: 'Active health probes of every upstream (passive outlier detection is always on).',
  },
  {
    name: 'REVERSE_PROXY_HEALTHCHECK_INTERVAL_SECS',
    option: 'healthCheckIntervalSecs',
    ...decimal(0, 86_400, false),
    description: 'Seconds between two active probes of one upstream.',
  },
  {
    name: 'REVERSE_PROXY_HEALTHCHECK_PATH',
    option: 'healthCheckPath',
    ...text(
      'a path starting with / without spaces, control characters or #, at most 2048 characters',
      healthPathProblem,
    ),
    description: 'Path the active probe requests; 200–399 means healthy.',
  },
  {
    name: 'REVERSE_PROXY_SHUTDOWN_GRACE_SECONDS',
    option: 'shutdownGraceSeconds',
    ...decimal(0, 3_600, true),
    description:
      'Seconds in-flight requests get to finish after SIGTERM/SIGINT before being closed.',
  },
  {
    name: 'REVERSE_PROXY_CIRCUIT_BREAKER',
    option: 'circuitBreaker',
    ...boolean(),
    description: 'A circuit breaker per upstream (closed, open, half-open).',
  },
  {
    name: 'REVERSE_PROXY_CIRCUIT_BREAKER_FAILURE_THRESHOLD',
    option: 'circuitBreakerFailureThreshold',
    ...integer(1, 10_000),
    description: 'Consecutive failures that open an upstream’s breaker.',
  },
  {
    name: 'REVERSE_PROXY_CIRCUIT_BREAKER_OPEN_MS',
    option: 'circuitBreakerOpenMs',
    ...integer(1, 86_400_000),
    description: 'How long a breaker stays open before letting a probe request through.',
  },
  {
    name: 'REVERSE_PROXY_RETRY_MAX_ATTEMPTS',
    option: 'retryMaxAttempts',
    ...integer(1, 10),
    description:
      'Attempts per request, the first included (1 disables retries); only idempotent methods with replayable bodies are retried.',
  },
  {
    name: 'REVERSE_PROXY_RETRY_BACKOFF_BASE_MS',
    option: 'retryBackoffBaseMs',
    ...integer(0, 60_000),
    description:
      'Smallest retry backoff; backoffs grow exponentially up to the cap, with decorrelated jitter.',
  },
  {
    name: 'REVERSE_PROXY_RETRY_BACKOFF_MAX_MS',
    option: 'retryBackoffMaxMs',
    ...integer(0, 600_000),
    description: 'Largest retry backoff; at least the base.',
  },
  {
    name: 'REVERSE_PROXY_RETRY_BUDGET_PERCENT',
    option: 'retryBudgetPercent',
    ...decimal(0, 1_000, true),
    description: 'Retries allowed as a percentage of recent requests (Envoy’s retry budget).',
  },
  {
    name: 'REVERSE_PROXY_LB',
    option: 'lb',
    ...oneOf(LB_ALGORITHMS),
    description: 'Load-balancing algorithm over the healthy upstreams.',
  },
  {
    name: 'REVERSE_PROXY_RATE_LIMIT_RPS',
    option: 'rateLimitRps',
    ...decimal(0, 1_000_000, true),
    description:
      'Requests per second allowed per client IP (429 with Retry-After above it); 0 turns the limit off.',
  },
  {
    name: 'REVERSE_PROXY_RATE_LIMIT_BURST',
    option: 'rateLimitBurst',
    ...integer(0, 1_000_000),
    description:
      'Size of each client’s token bucket, the requests it may send at once; 0 means equal to the rate.',
  },
  {
    name: 'REVERSE_PROXY_RATE_LIMIT_REDIS_URL',
    option: 'rateLimitRedisUrl',
    ...text('a redis:// or rediss:// URL with a host, or empty', redisUrlProblem),
    description:
      'Share the rate limit between proxies through this Redis; empty for a local limiter.',
  },
  {
    name: 'REVERSE_PROXY_TRUSTED_PROXIES',
    option: 'trustedProxies',
    ...list('comma-separated IPv4 or IPv6 addresses or CIDRs', trustedProxyProblem),
    description:
      'Peers whose X-Forwarded-*/Forwarded headers are believed and appended to; from anyone else they are replaced.',
  },
  {
    name: 'REVERSE_PROXY_METRICS_BEARER_TOKEN',
    option: 'metricsBearerToken',
    secret: true,
    ...text('visible ASCII without spaces, at most 4096 characters, or empty', tokenProblem),
    description: 'Bearer token required by /metrics, /status and /status.json; empty for none.',
  },
  {
    name: 'REVERSE_PROXY_EXPOSE_DEBUG_HEADERS',
    option: 'exposeDebugHeaders',
    ...boolean(),
    description: 'Add x-proxykit-upstream and x-proxykit-attempts to responses.',
  },
  {
    name: 'REVERSE_PROXY_LOG_LEVEL',
    option: 'logLevel',
    ...oneOf(LOG_LEVELS),
    description: 'Level of the pino access and event log (JSON lines on stdout).',
  },
  {
    name: 'REVERSE_PROXY_WORKERS',
    option: 'workers',
    ...integer(1, 256),
    description: 'Processes sharing the listening port; 1 runs in-process.',
  },
];

const BY_NAME: ReadonlyMap<string, Setting> = new Map(SETTINGS.map((s) => [s.name, s]));

/** Every variable {@link configFromEnv} reads, with its default and what it allows, in README order. */
export const PROXY_ENV_VARIABLES: readonly ProxyEnvVariable[] = Object.freeze(
  SETTINGS.map((s) =>
    Object.freeze({
      name: s.name,
      option: s.option,
      defaultValue: s.toText(DEFAULT_PROXY_CONFIG[s.option]),
      allowed: s.allowed,
      description: s.description,
    }),
  ),
);

// ---------------------------------------------------------------------------------------------
// Messages.

const MAX_SHOWN = 200;

function describe(value: unknown): string {
  let shown: string;
  try {
    // JSON.stringify gives undefined for functions and symbols.
    const json = JSON.stringify(value) as unknown;
    shown = typeof json === 'string' ? json : String(value);
  } catch {
    shown = String(value);
  }
  return shown.length > MAX_SHOWN ? `${shown.slice(0, MAX_SHOWN)}…` : shown;
}

/** Replaces the password of every `scheme://user:password@host` in `text` with `***`. */
function maskPasswords(text: string): string {
  return text.replace(/(\/\/[^/@\s,"]*?:)[^/@\s,"]*@/g, '$1***@');
}

function shownValue(setting: Setting, value: unknown): string {
  if (typeof value === 'string' && setting.secret === true) {
    return `(hidden, ${value.length} characters)`;
  }
  return maskPasswords(describe(value));
}

function errorFor(setting: Setting, label: string, value: unknown, outcome: Invalid): ConfigError {
  const allowed =
    outcome.detail === undefined
      ? setting.allowed
      : `${setting.allowed} (${maskPasswords(outcome.detail)})`;
  return new ConfigError(label, shownValue(setting, value), allowed);
}

/** Levenshtein distance, for suggesting the variable that was meant. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The known variable closest to `name` (case-insensitively). */
export function closestVariable(name: string): string {
  const upper = name.toUpperCase();
  let best = SETTINGS[0]?.name ?? PREFIX;
  let bestDistance = Infinity;
  for (const { name: known } of SETTINGS) {
    const d = distance(upper, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Entry points.

/** The default of a setting, frozen like any value that passed its check. */
function defaultOf(setting: Setting): unknown {
  return setting.check(DEFAULT_PROXY_CONFIG[setting.option]);
}

/** Rules between settings; `label` names a setting, `show` shows a number as it was given. */
function crossCheck(
  config: ProxyConfig,
  label: (option: keyof ProxyConfig) => string,
  show: (value: number) => string,
): void {
  if (config.retryBackoffBaseMs > config.retryBackoffMaxMs) {
    throw new ConfigError(
      label('retryBackoffBaseMs'),
      show(config.retryBackoffBaseMs),
      `at most ${label('retryBackoffMaxMs')} (${config.retryBackoffMaxMs})`,
    );
  }
}

/**
 * Reads the proxy's configuration from environment variables (`process.env`). Unset or blank
 * variables take their default from {@link DEFAULT_PROXY_CONFIG}; booleans accept
 * true/false/1/0/yes/no/on/off in any case; lists are comma-separated, items trimmed.
 *
 * @throws ConfigError for the first invalid value, or for a `REVERSE_PROXY_*` variable that is
 *   not one of {@link PROXY_ENV_VARIABLES} (naming the closest one)
 */
export function configFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: ConfigFromEnvOptions = {},
): ProxyConfig {
  const ignored = new Set(options.ignoredVariables ?? []);
  for (const [name, value] of Object.entries(env)) {
    if (
      value !== undefined &&
      name.toUpperCase().startsWith(PREFIX) &&
      !BY_NAME.has(name) &&
      !ignored.has(name)
    ) {
      const suggestion = closestVariable(name);
      throw new ConfigError(
        name,
        `(hidden, ${value.length} characters)`,
        `one of the known ${PREFIX}* variables: did you mean ${suggestion}?`,
      );
    }
  }
  const values: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const raw = env[setting.name];
    if (raw === undefined || raw.trim() === '') {
      values[setting.option] = defaultOf(setting);
      continue;
    }
    const outcome = setting.fromText(raw.trim());
    if (outcome instanceof Invalid) throw errorFor(setting, setting.name, raw, outcome);
    values[setting.option] = outcome;
  }
  const config = Object.freeze(values) as unknown as ProxyConfig;
  crossCheck(
    config,
    (option) => SETTINGS.find((s) => s.option === option)?.name ?? option,
    (value) => JSON.stringify(String(value)),
  );
  return config;
}

/**
 * Completes and validates a library caller's options with the same rules as
 * {@link configFromEnv}; unset (`undefined`) fields take their default. Fields that are not part
 * of {@link ProxyConfig} are ignored, so `createProxy`'s own options may be passed as they are.
 *
 * @throws ConfigError naming the option, e.g. `maxInFlight=0 is not valid: expected an integer from 1 to 1000000`
 */
export function resolveProxyConfig(options: Partial<ProxyConfig>): ProxyConfig {
  const values: Record<string, unknown> = {};
  const given = options as Readonly<Record<string, unknown>>;
  for (const setting of SETTINGS) {
    const value = given[setting.option];
    if (value === undefined) {
      values[setting.option] = defaultOf(setting);
      continue;
    }
    const outcome = setting.check(value);
    if (outcome instanceof Invalid) throw errorFor(setting, setting.option, value, outcome);
    values[setting.option] = outcome;
  }
  const config = Object.freeze(values) as unknown as ProxyConfig;
  crossCheck(config, (option) => option, String);
  return config;
}

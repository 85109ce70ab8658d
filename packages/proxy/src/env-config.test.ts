import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config-error.js';
import {
  closestVariable,
  configFromEnv,
  PROXY_ENV_VARIABLES,
  resolveProxyConfig,
} from './env-config.js';
import {
  DEFAULT_PROXY_CONFIG,
  LB_ALGORITHMS,
  LOG_LEVELS,
  type ProxyConfig,
} from './proxy-config.js';

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** Good values of every variable, and the field value each gives. */
const GOOD: Record<string, readonly (readonly [string, unknown])[]> = {
  REVERSE_PROXY_LISTEN: [
    ['127.0.0.1:8000', { host: '127.0.0.1', port: 8000 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['[::1]:65535', { host: '::1', port: 65535 }],
    ['[2001:db8::1]:80', { host: '2001:db8::1', port: 80 }],
    ['localhost:9000', { host: 'localhost', port: 9000 }],
    [' proxy.internal:443 ', { host: 'proxy.internal', port: 443 }],
  ],
  REVERSE_PROXY_UPSTREAMS: [
    ['http://127.0.0.1:9000', ['http://127.0.0.1:9000']],
    [
      ' http://127.0.0.1:9000 , https://api.example.com/base ,',
      ['http://127.0.0.1:9000', 'https://api.example.com/base'],
    ],
    ['http://[::1]:9000', ['http://[::1]:9000']],
  ],
  REVERSE_PROXY_CONNECT_TIMEOUT_MS: [
    ['1', 1],
    ['600000', 600_000],
    ['+250', 250],
  ],
  REVERSE_PROXY_REQUEST_TIMEOUT_MS: [
    ['1', 1],
    ['86400000', 86_400_000],
  ],
  REVERSE_PROXY_MAX_IN_FLIGHT: [
    ['1', 1],
    ['1000000', 1_000_000],
    ['007', 7],
  ],
  REVERSE_PROXY_STREAM_LARGE_BODIES: [
    ['true', true],
    ['FALSE', false],
    ['1', true],
    ['0', false],
    ['Yes', true],
    ['no', false],
    ['ON', true],
    ['off', false],
  ],
  REVERSE_PROXY_STREAM_THRESHOLD_BYTES: [
    ['0', 0],
    ['1073741824', 1_073_741_824],
  ],
  REVERSE_PROXY_HEALTHCHECK: [
    ['off', false],
    ['true', true],
  ],
  REVERSE_PROXY_HEALTHCHECK_INTERVAL_SECS: [
    ['0.05', 0.05],
    ['86400', 86_400],
    ['5', 5],
    ['.5', 0.5],
  ],
  REVERSE_PROXY_HEALTHCHECK_PATH: [
    ['/healthz', '/healthz'],
    ['/status?full=1', '/status?full=1'],
  ],
  REVERSE_PROXY_SHUTDOWN_GRACE_SECONDS: [
    ['0', 0],
    ['3600', 3_600],
    ['2.5', 2.5],
  ],
  REVERSE_PROXY_CIRCUIT_BREAKER: [['no', false]],
  REVERSE_PROXY_CIRCUIT_BREAKER_FAILURE_THRESHOLD: [
    ['1', 1],
    ['10000', 10_000],
  ],
  REVERSE_PROXY_CIRCUIT_BREAKER_OPEN_MS: [
    ['1', 1],
    ['86400000', 86_400_000],
  ],
  REVERSE_PROXY_RETRY_MAX_ATTEMPTS: [
    ['1', 1],
    ['10', 10],
  ],
  REVERSE_PROXY_RETRY_BACKOFF_BASE_MS: [
    ['0', 0],
    ['1000', 1_000],
  ],
  REVERSE_PROXY_RETRY_BACKOFF_MAX_MS: [
    ['25', 25],
    ['600000', 600_000],
  ],
  REVERSE_PROXY_RETRY_BUDGET_PERCENT: [
    ['0', 0],
    ['12.5', 12.5],
    ['1000', 1_000],
  ],
  REVERSE_PROXY_LB: [...LB_ALGORITHMS.map((lb) => [lb, lb] as const), ['P2C', 'p2c']],
  REVERSE_PROXY_RATE_LIMIT_RPS: [
    ['0', 0],
    ['0.5', 0.5],
    ['1000000', 1_000_000],
  ],
  REVERSE_PROXY_RATE_LIMIT_BURST: [
    ['0', 0],
    ['1000000', 1_000_000],
  ],
  REVERSE_PROXY_RATE_LIMIT_REDIS_URL: [
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['rediss://user:pw@cache.internal:6380/2', 'rediss://user:pw@cache.internal:6380/2'],
  ],
  REVERSE_PROXY_TRUSTED_PROXIES: [
    ['127.0.0.1/32', ['127.0.0.1/32']],
    ['10.0.0.0/8, fd00::/8 ,::1', ['10.0.0.0/8', 'fd00::/8', '::1']],
  ],
  REVERSE_PROXY_METRICS_BEARER_TOKEN: [['s3cr3t-T0ken_~+/=', 's3cr3t-T0ken_~+/=']],
  REVERSE_PROXY_EXPOSE_DEBUG_HEADERS: [['yes', true]],
  REVERSE_PROXY_LOG_LEVEL: [
    ...LOG_LEVELS.map((level) => [level, level] as const),
    ['WARN', 'warn'],
  ],
  REVERSE_PROXY_WORKERS: [
    ['1', 1],
    ['256', 256],
  ],
};

/** Bad values of every variable, and a fragment of what the message must say is allowed. */
const BAD: Record<string, readonly string[]> = {
  REVERSE_PROXY_LISTEN: [
    '8000',
    '127.0.0.1',
    '127.0.0.1:65536',
    '::1:8000',
    '[::1]8000',
    'a b:80',
    '[nothost]:80',
    ':80',
    '127.0.0.1:-1',
  ],
  REVERSE_PROXY_UPSTREAMS: [
    'ftp://127.0.0.1:21',
    '127.0.0.1:9000',
    'http://user:pw@127.0.0.1:9000',
    'http://127.0.0.1:9000/?a=1',
    'http://127.0.0.1:9000/#top',
    'http://127.0.0.1:9000,http://127.0.0.1:9000/other',
    'http://',
  ],
  REVERSE_PROXY_CONNECT_TIMEOUT_MS: ['0', '600001', '1.5', 'abc', '1e3', '0x10', '-5'],
  REVERSE_PROXY_REQUEST_TIMEOUT_MS: ['0', '86400001', 'soon'],
  REVERSE_PROXY_MAX_IN_FLIGHT: ['abc', '0', '1000001', '10.0'],
  REVERSE_PROXY_STREAM_LARGE_BODIES: ['maybe', 't', '2', 'enabled'],
  REVERSE_PROXY_STREAM_THRESHOLD_BYTES: ['-1', '1073741825', '1MB'],
  REVERSE_PROXY_HEALTHCHECK: ['y'],
  REVERSE_PROXY_HEALTHCHECK_INTERVAL_SECS: ['0', '-1', '86401', 'NaN', 'Infinity', '5s'],
  REVERSE_PROXY_HEALTHCHECK_PATH: ['healthz', '/a b', '/a#b', `/${'a'.repeat(2048)}`],
  REVERSE_PROXY_SHUTDOWN_GRACE_SECONDS: ['-0.5', '3601', 'forever'],
  REVERSE_PROXY_CIRCUIT_BREAKER: ['2'],
  REVERSE_PROXY_CIRCUIT_BREAKER_FAILURE_THRESHOLD: ['0', '10001'],
  REVERSE_PROXY_CIRCUIT_BREAKER_OPEN_MS: ['0', '86400001'],
  REVERSE_PROXY_RETRY_MAX_ATTEMPTS: ['0', '11'],
  REVERSE_PROXY_RETRY_BACKOFF_BASE_MS: ['-1', '60001'],
  REVERSE_PROXY_RETRY_BACKOFF_MAX_MS: ['-1', '600001'],
  REVERSE_PROXY_RETRY_BUDGET_PERCENT: ['-1', '1000.5', '20%'],
  REVERSE_PROXY_LB: ['round-robin', 'fastest'],
  REVERSE_PROXY_RATE_LIMIT_RPS: ['-1', '1000001'],
  REVERSE_PROXY_RATE_LIMIT_BURST: ['-1', '1.5', '1000001'],
  REVERSE_PROXY_RATE_LIMIT_REDIS_URL: ['http://127.0.0.1:6379', 'localhost:6379'],
  REVERSE_PROXY_TRUSTED_PROXIES: [
    '10.0.0.0/33',
    'fd00::/129',
    '10.0.0',
    'example.com',
    '10.0.0.0/8,nope',
  ],
  REVERSE_PROXY_METRICS_BEARER_TOKEN: ['has space', 'x'.repeat(4097)],
  REVERSE_PROXY_EXPOSE_DEBUG_HEADERS: ['debug'],
  REVERSE_PROXY_LOG_LEVEL: ['verbose', 'warning'],
  REVERSE_PROXY_WORKERS: ['0', '257', 'auto'],
};

const fieldOf = new Map(PROXY_ENV_VARIABLES.map((v) => [v.name, v.option]));

describe('configFromEnv', () => {
  it('gives the defaults for an empty environment, and ignores other variables', () => {
    expect(configFromEnv({})).toEqual(DEFAULT_PROXY_CONFIG);
    expect(configFromEnv({ PATH: '/usr/bin', HOME: '/root', PROXY: 'x' })).toEqual(
      DEFAULT_PROXY_CONFIG,
    );
  });

  it('reads every variable of the issue, and nothing else', () => {
    expect(PROXY_ENV_VARIABLES.map((v) => v.name).sort()).toEqual(
      [
        'LISTEN',
        'UPSTREAMS',
        'CONNECT_TIMEOUT_MS',
        'REQUEST_TIMEOUT_MS',
        'MAX_IN_FLIGHT',
        'STREAM_LARGE_BODIES',
        'STREAM_THRESHOLD_BYTES',
        'HEALTHCHECK',
        'HEALTHCHECK_INTERVAL_SECS',
        'HEALTHCHECK_PATH',
        'SHUTDOWN_GRACE_SECONDS',
        'CIRCUIT_BREAKER',
        'CIRCUIT_BREAKER_FAILURE_THRESHOLD',
        'CIRCUIT_BREAKER_OPEN_MS',
        'RETRY_MAX_ATTEMPTS',
        'RETRY_BACKOFF_BASE_MS',
        'RETRY_BACKOFF_MAX_MS',
        'RETRY_BUDGET_PERCENT',
        'LB',
        'RATE_LIMIT_RPS',
        'RATE_LIMIT_BURST',
        'RATE_LIMIT_REDIS_URL',
        'TRUSTED_PROXIES',
        'METRICS_BEARER_TOKEN',
        'EXPOSE_DEBUG_HEADERS',
        'LOG_LEVEL',
        'WORKERS',
      ]
        .map((name) => `REVERSE_PROXY_${name}`)
        .sort(),
    );
    // Every field of the configuration is reachable from the environment.
    expect(new Set(PROXY_ENV_VARIABLES.map((v) => v.option))).toEqual(
      new Set(Object.keys(DEFAULT_PROXY_CONFIG)),
    );
  });

  it('documents a default that reads back as the default', () => {
    const env = Object.fromEntries(PROXY_ENV_VARIABLES.map((v) => [v.name, v.defaultValue]));
    expect(configFromEnv(env)).toEqual(DEFAULT_PROXY_CONFIG);
    expect(PROXY_ENV_VARIABLES.find((v) => v.name === 'REVERSE_PROXY_LISTEN')?.defaultValue).toBe(
      '127.0.0.1:8000',
    );
  });

  describe.each(Object.entries(GOOD))('%s', (name, cases) => {
    it.each(cases.map(([text, value]) => ({ text, value })))('accepts $text', ({ text, value }) => {
      const field = fieldOf.get(name);
      expect(field).toBeDefined();
      const env: Record<string, string> = { [name]: text };
      // A base above any good max keeps the cross-check out of the way.
      if (name === 'REVERSE_PROXY_RETRY_BACKOFF_MAX_MS')
        env.REVERSE_PROXY_RETRY_BACKOFF_BASE_MS = '0';
      if (name === 'REVERSE_PROXY_RETRY_BACKOFF_BASE_MS')
        env.REVERSE_PROXY_RETRY_BACKOFF_MAX_MS = '600000';
      expect(configFromEnv(env)[field as keyof ProxyConfig]).toEqual(value);
    });
  });

  describe.each(Object.entries(BAD))('%s', (name, values) => {
    it.each(values)(
      'refuses %j with one line naming the variable, the value and what is allowed',
      (text) => {
        const error = errorOf(() => configFromEnv({ [name]: text }));
        expect(error.variable).toBe(name);
        expect(error.message).not.toMatch(/[\r\n]/);
        expect(error.message.startsWith(`${name}=`)).toBe(true);
        expect(error.message).toContain(' is not valid: expected ');
        expect(error.message).toContain(error.allowed);
        const documented = PROXY_ENV_VARIABLES.find((v) => v.name === name)?.allowed ?? '?';
        expect(error.allowed.startsWith(documented)).toBe(true);
        if (name === 'REVERSE_PROXY_METRICS_BEARER_TOKEN') {
          expect(error.message).not.toContain(text);
        } else if (text.length < 150 && !text.includes('@')) {
          expect(error.value).toBe(JSON.stringify(text));
        }
      },
    );
  });

  it('formats the message exactly as documented', () => {
    expect(errorOf(() => configFromEnv({ REVERSE_PROXY_MAX_IN_FLIGHT: 'abc' })).message).toBe(
      'REVERSE_PROXY_MAX_IN_FLIGHT="abc" is not valid: expected an integer from 1 to 1000000',
    );
    expect(errorOf(() => configFromEnv({ REVERSE_PROXY_LB: 'fastest' })).message).toBe(
      'REVERSE_PROXY_LB="fastest" is not valid: expected one of round_robin, random, least_conn, p2c, peak_ewma, maglev',
    );
    expect(
      errorOf(() =>
        configFromEnv({ REVERSE_PROXY_UPSTREAMS: 'http://127.0.0.1:9000,ftp://127.0.0.1:21' }),
      ).message,
    ).toBe(
      'REVERSE_PROXY_UPSTREAMS="http://127.0.0.1:9000,ftp://127.0.0.1:21" is not valid: expected comma-separated http:// or https:// URLs with a host, distinct origins and no credentials, query or fragment ("ftp://127.0.0.1:21" is not http: or https:)',
    );
  });

  it('keeps a message on one line whatever the value holds', () => {
    const error = errorOf(() => configFromEnv({ REVERSE_PROXY_WORKERS: '2\n3\r\u0000' }));
    expect(error.message).toBe(
      'REVERSE_PROXY_WORKERS="2\\n3\\r\\u0000" is not valid: expected an integer from 1 to 256',
    );
  });

  it('never shows a secret: the bearer token, or the password of the Redis URL', () => {
    const token = errorOf(() =>
      configFromEnv({ REVERSE_PROXY_METRICS_BEARER_TOKEN: 'top secret' }),
    );
    expect(token.message).toBe(
      'REVERSE_PROXY_METRICS_BEARER_TOKEN=(hidden, 10 characters) is not valid: expected visible ASCII without spaces, at most 4096 characters, or empty',
    );
    const redis = errorOf(() =>
      configFromEnv({ REVERSE_PROXY_RATE_LIMIT_REDIS_URL: 'http://user:hunter2@cache:6379' }),
    );
    expect(redis.message).not.toContain('hunter2');
    expect(redis.value).toBe('"http://user:***@cache:6379"');
    const upstreams = errorOf(() =>
      configFromEnv({
        REVERSE_PROXY_UPSTREAMS:
          'http://127.0.0.1:1,https://ops:hunter2@api.example.com,http://:pw2@b',
      }),
    );
    expect(upstreams.message).not.toMatch(/hunter2|pw2/);
    expect(upstreams.message).toContain('"https://ops:***@api.example.com" has credentials');
    const library = errorOf(() =>
      resolveProxyConfig({ upstreams: ['http://ops:hunter2@127.0.0.1:1'] }),
    );
    expect(library.message).not.toContain('hunter2');
  });

  it('treats a blank variable as unset', () => {
    expect(
      configFromEnv({ REVERSE_PROXY_MAX_IN_FLIGHT: '', REVERSE_PROXY_UPSTREAMS: '  ' }),
    ).toEqual(DEFAULT_PROXY_CONFIG);
  });

  it('requires the backoff base to be at most the backoff cap', () => {
    const error = errorOf(() =>
      configFromEnv({
        REVERSE_PROXY_RETRY_BACKOFF_BASE_MS: '2000',
        REVERSE_PROXY_RETRY_BACKOFF_MAX_MS: '1000',
      }),
    );
    expect(error.message).toBe(
      'REVERSE_PROXY_RETRY_BACKOFF_BASE_MS="2000" is not valid: expected at most REVERSE_PROXY_RETRY_BACKOFF_MAX_MS (1000)',
    );
    // Against the default cap (1000 ms) too.
    expect(() => configFromEnv({ REVERSE_PROXY_RETRY_BACKOFF_BASE_MS: '1001' })).toThrow(
      ConfigError,
    );
  });

  it('refuses an unknown REVERSE_PROXY_* variable, naming the closest known one', () => {
    const error = errorOf(() =>
      configFromEnv({ REVERSE_PROXY_MAX_INFLIGHT: '10', REVERSE_PROXY_LB: 'p2c' }),
    );
    expect(error.variable).toBe('REVERSE_PROXY_MAX_INFLIGHT');
    expect(error.message).toBe(
      'REVERSE_PROXY_MAX_INFLIGHT=(hidden, 2 characters) is not valid: expected one of the known REVERSE_PROXY_* variables: did you mean REVERSE_PROXY_MAX_IN_FLIGHT?',
    );
    expect(errorOf(() => configFromEnv({ reverse_proxy_lb: 'p2c' })).allowed).toContain(
      'did you mean REVERSE_PROXY_LB?',
    );
    expect(errorOf(() => configFromEnv({ REVERSE_PROXY_HEALTH_CHECK: '1' })).allowed).toContain(
      'REVERSE_PROXY_HEALTHCHECK?',
    );
    expect(closestVariable('REVERSE_PROXY_CIRCUIT_BREAKER_OPEN_SECS')).toBe(
      'REVERSE_PROXY_CIRCUIT_BREAKER_OPEN_MS',
    );
    expect(closestVariable('REVERSE_PROXY_TRUSTED_PROXY')).toBe('REVERSE_PROXY_TRUSTED_PROXIES');
  });

  it('lets a caller name further REVERSE_PROXY_* variables of its own', () => {
    expect(
      configFromEnv(
        { REVERSE_PROXY_DEMO_FAILING: 'b' },
        { ignoredVariables: ['REVERSE_PROXY_DEMO_FAILING'] },
      ),
    ).toEqual(DEFAULT_PROXY_CONFIG);
  });

  it('returns a frozen configuration', () => {
    const config = configFromEnv({ REVERSE_PROXY_UPSTREAMS: 'http://127.0.0.1:1' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.upstreams)).toBe(true);
    expect(Object.isFrozen(config.listen)).toBe(true);
  });
});

describe('resolveProxyConfig', () => {
  it('fills in the defaults', () => {
    expect(resolveProxyConfig({})).toEqual(DEFAULT_PROXY_CONFIG);
    expect(resolveProxyConfig({ maxInFlight: 8, upstreams: ['http://127.0.0.1:1'] })).toEqual({
      ...DEFAULT_PROXY_CONFIG,
      maxInFlight: 8,
      upstreams: ['http://127.0.0.1:1'],
    });
  });

  it('ignores fields that are not configuration (createProxy passes its options as they are)', () => {
    const options = { upstreams: ['http://127.0.0.1:1'], observers: [], logger: {} };
    expect(resolveProxyConfig(options as Partial<ProxyConfig>)).not.toHaveProperty('observers');
  });

  it.each([
    [{ maxInFlight: 0 }, 'maxInFlight=0 is not valid: expected an integer from 1 to 1000000'],
    [{ maxInFlight: '8' }, 'maxInFlight="8" is not valid: expected an integer from 1 to 1000000'],
    [{ maxInFlight: 1.5 }, 'maxInFlight=1.5 is not valid: expected an integer from 1 to 1000000'],
    [
      { healthCheckIntervalSecs: 0 },
      'healthCheckIntervalSecs=0 is not valid: expected a number greater than 0 and at most 86400',
    ],
    [
      { healthCheckIntervalSecs: Number.NaN },
      'healthCheckIntervalSecs=null is not valid: expected a number greater than 0 and at most 86400',
    ],
    [
      { healthCheck: 'yes' },
      'healthCheck="yes" is not valid: expected true or false (also 1/0, yes/no, on/off)',
    ],
    [
      { lb: 'P2C' },
      'lb="P2C" is not valid: expected one of round_robin, random, least_conn, p2c, peak_ewma, maglev',
    ],
    [
      { listen: { host: '127.0.0.1', port: 70000 } },
      'listen={"host":"127.0.0.1","port":70000} is not valid: expected host:port or [ipv6]:port, with a port from 0 to 65535',
    ],
    [
      { upstreams: 'http://127.0.0.1:1' },
      'upstreams="http://127.0.0.1:1" is not valid: expected comma-separated http:// or https:// URLs with a host, distinct origins and no credentials, query or fragment (not a list)',
    ],
    [
      { upstreams: ['http://127.0.0.1:1', 5] },
      'upstreams=["http://127.0.0.1:1",5] is not valid: expected comma-separated http:// or https:// URLs with a host, distinct origins and no credentials, query or fragment (5 is not a string)',
    ],
    [
      { trustedProxies: ['10.0.0.0/8', 'x'] },
      'trustedProxies=["10.0.0.0/8","x"] is not valid: expected comma-separated IPv4 or IPv6 addresses or CIDRs ("x" is not an address or CIDR)',
    ],
    [
      { retryBackoffBaseMs: 50, retryBackoffMaxMs: 10 },
      'retryBackoffBaseMs=50 is not valid: expected at most retryBackoffMaxMs (10)',
    ],
  ])('refuses %j naming the option', (options, message) => {
    const error = errorOf(() => resolveProxyConfig(options as Partial<ProxyConfig>));
    expect(error.message).toBe(message);
    expect(error).toBeInstanceOf(RangeError);
  });

  it('accepts an IPv6 listen host as node:net does (without brackets)', () => {
    expect(resolveProxyConfig({ listen: { host: '::1', port: 0 } }).listen).toEqual({
      host: '::1',
      port: 0,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties: anything configFromEnv produces is a configuration resolveProxyConfig accepts as it is.

const goodText: fc.Arbitrary<Record<string, string | undefined>> = fc.record(
  Object.fromEntries(
    Object.entries(GOOD).map(([name, cases]) => [
      name,
      fc.constantFrom(...cases.map(([text]) => text)),
    ]),
  ),
  { requiredKeys: [] },
);

const generated: fc.Arbitrary<Record<string, string | undefined>> = fc.record(
  {
    REVERSE_PROXY_MAX_IN_FLIGHT: fc.integer({ min: 1, max: 1_000_000 }).map(String),
    REVERSE_PROXY_HEALTHCHECK_INTERVAL_SECS: fc
      .double({ min: 0.001, max: 86_400, noNaN: true })
      .map(String),
    REVERSE_PROXY_RETRY_BUDGET_PERCENT: fc
      .double({ min: 0, max: 1_000, noNaN: true })
      .map((n) => n.toFixed(3)),
    REVERSE_PROXY_RETRY_BACKOFF_BASE_MS: fc.integer({ min: 0, max: 1_000 }).map(String),
    REVERSE_PROXY_LISTEN: fc
      .tuple(
        fc.oneof(
          fc.ipV4(),
          fc.ipV6().map((ip) => `[${ip}]`),
        ),
        fc.integer({ min: 0, max: 65_535 }),
      )
      .map(([host, port]) => `${host}:${port}`),
    REVERSE_PROXY_TRUSTED_PROXIES: fc
      .array(
        fc.oneof(
          fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, p]) => `${ip}/${p}`),
          fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([ip, p]) => `${ip}/${p}`),
          fc.ipV4(),
          fc.ipV6(),
        ),
        { maxLength: 5 },
      )
      .map((items) => items.join(' , ')),
    REVERSE_PROXY_LB: fc.constantFrom(...LB_ALGORITHMS),
    REVERSE_PROXY_STREAM_LARGE_BODIES: fc.constantFrom(
      'true',
      'FALSE',
      'On',
      'off',
      '1',
      '0',
      'YES',
      'no',
    ),
  },
  { requiredKeys: [] },
);

describe('properties', () => {
  test.prop([goodText, generated], { numRuns: 300 })(
    'a configuration read from the environment re-validates unchanged',
    (a, b) => {
      const config = configFromEnv({ ...a, ...b, REVERSE_PROXY_RETRY_BACKOFF_MAX_MS: '600000' });
      expect(resolveProxyConfig(config)).toEqual(config);
    },
  );

  test.prop(
    [
      fc.constantFrom(...PROXY_ENV_VARIABLES.map((v) => v.name)),
      fc.string({ unit: 'binary', maxLength: 40 }),
    ],
    { numRuns: 1000 },
  )(
    'any text either gives a configuration that re-validates or one line naming the variable',
    (name, text) => {
      let config: ProxyConfig;
      try {
        config = configFromEnv({ [name]: text });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).variable).toBe(name);
        expect((error as ConfigError).message).not.toMatch(/[\r\n]/);
        return;
      }
      expect(resolveProxyConfig(config)).toEqual(config);
    },
  );

  test.prop([fc.string({ minLength: 1, maxLength: 30 })], { numRuns: 300 })(
    'no REVERSE_PROXY_* typo is silently ignored',
    (suffix) => {
      const name = `REVERSE_PROXY_${suffix}`;
      fc.pre(!PROXY_ENV_VARIABLES.some((v) => v.name === name));
      const error = errorOf(() => configFromEnv({ [name]: '1' }));
      expect(error.variable).toBe(name);
      expect(error.allowed).toMatch(/did you mean REVERSE_PROXY_[A-Z_]+\?$/);
    },
  );
});

import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FORWARDER_CONFIG,
  L4ConfigError,
  loadForwarderConfigFromEnv,
  parseHostPort,
  resolveForwarderConfig,
} from './forwarder-config.js';

const backends = { L4_BACKENDS: '127.0.0.1:9001,[::1]:9002, db.internal:5432' };

describe('loadForwarderConfigFromEnv', () => {
  it('fills the documented defaults', () => {
    const config = loadForwarderConfigFromEnv(backends);
    expect(config).toEqual({
      ...DEFAULT_FORWARDER_CONFIG,
      listen: { host: '127.0.0.1', port: 8081 },
      backends: ['127.0.0.1:9001', '[::1]:9002', 'db.internal:5432'],
      workers: Math.min(1_024, availableParallelism()),
      metricsListen: { host: '127.0.0.1', port: 8082 },
    });
  });

  it('reads every variable', () => {
    const config = loadForwarderConfigFromEnv({
      ...backends,
      L4_LISTEN: '[::]:0',
      L4_WORKERS: '3',
      L4_METRICS_LISTEN: 'off',
      L4_WARM_POOL_SIZE: '0',
      L4_CONNECT_TIMEOUT_MS: '250',
      L4_IDLE_TIMEOUT_MS: '0',
      L4_LB: 'MAGLEV',
      L4_HEALTHCHECK: 'false',
      L4_HEALTHCHECK_INTERVAL_SECS: '0.5',
      L4_SHUTDOWN_GRACE_SECONDS: '0',
      L4_PROXY_PROTOCOL: 'v2',
    });
    expect(config).toMatchObject({
      listen: { host: '::', port: 0 },
      workers: 3,
      metricsListen: undefined,
      warmPoolSize: 0,
      connectTimeoutMs: 250,
      idleTimeoutMs: 0,
      lb: 'maglev',
      healthCheck: false,
      healthCheckIntervalSecs: 0.5,
      shutdownGraceSeconds: 0,
      proxyProtocol: 'v2',
    });
  });

  it.each([
    [{}, 'L4_BACKENDS=""'],
    [{ L4_BACKENDS: 'localhost' }, 'L4_BACKENDS="localhost"'],
    [{ L4_BACKENDS: 'a:1,a:1' }, 'L4_BACKENDS="a:1,a:1"'],
    [{ L4_BACKENDS: '::1:80' }, 'L4_BACKENDS="::1:80"'],
    [{ ...backends, L4_LISTEN: '127.0.0.1:99999' }, 'L4_LISTEN="127.0.0.1:99999"'],
    [
      { ...backends, L4_WORKERS: 'abc' },
      'L4_WORKERS="abc" is not valid: expected an integer in [1, 1024]',
    ],
    [{ ...backends, L4_WORKERS: '0' }, 'L4_WORKERS="0"'],
    [{ ...backends, L4_METRICS_LISTEN: 'nowhere' }, 'L4_METRICS_LISTEN="nowhere"'],
    [{ ...backends, L4_WARM_POOL_SIZE: '-1' }, 'L4_WARM_POOL_SIZE="-1"'],
    [{ ...backends, L4_CONNECT_TIMEOUT_MS: '0' }, 'L4_CONNECT_TIMEOUT_MS="0"'],
    [{ ...backends, L4_IDLE_TIMEOUT_MS: '1.5' }, 'L4_IDLE_TIMEOUT_MS="1.5"'],
    [
      { ...backends, L4_LB: 'peak_ewma' },
      'L4_LB="peak_ewma" is not valid: expected one of round_robin, random, least_conn, p2c, maglev',
    ],
    [{ ...backends, L4_HEALTHCHECK: 'maybe' }, 'L4_HEALTHCHECK="maybe"'],
    [{ ...backends, L4_HEALTHCHECK_INTERVAL_SECS: '0' }, 'L4_HEALTHCHECK_INTERVAL_SECS="0"'],
    [{ ...backends, L4_SHUTDOWN_GRACE_SECONDS: '-5' }, 'L4_SHUTDOWN_GRACE_SECONDS="-5"'],
    [
      { ...backends, L4_PROXY_PROTOCOL: 'v3' },
      'L4_PROXY_PROTOCOL="v3" is not valid: expected one of off, v1, v2',
    ],
  ])('rejects %j with one line naming the variable, value and what is allowed', (env, start) => {
    let error: unknown;
    try {
      loadForwarderConfigFromEnv(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(L4ConfigError);
    const message = (error as L4ConfigError).message;
    expect(message.startsWith(start)).toBe(true);
    expect(message).toContain('expected');
    expect(message).not.toContain('\n');
  });
});

describe('resolveForwarderConfig', () => {
  it('takes addresses as strings or objects and keeps library defaults', () => {
    const config = resolveForwarderConfig({
      listen: '127.0.0.1:0',
      backends: ['10.0.0.1:80'],
    });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.workers).toBe(1);
    expect(config.metricsListen).toBeUndefined();
    expect(resolveForwarderConfig(config)).toEqual(config);
  });

  it.each([
    [{ backends: [] }, /backends must be a non-empty list/],
    [{ backends: ['x'] }, /backends must be host:port/],
    [{ backends: ['a:1'], workers: 0 }, /workers must be an integer in \[1, 1024\], got 0/],
    [{ backends: ['a:1'], warmPoolSize: 1.5 }, /warmPoolSize must be an integer in \[0, 1000\]/],
    [{ backends: ['a:1'], lb: 'fastest' as never }, /lb must be one of round_robin/],
    [{ backends: ['a:1'], listen: { host: '', port: 1 } }, /listen must be/],
    [{ backends: ['a:1'], idleTimeoutMs: -1 }, /idleTimeoutMs must be a number/],
  ])('rejects %j naming the field and its range', (options, message) => {
    expect(() => resolveForwarderConfig(options)).toThrow(message);
  });
});

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:80', { host: '127.0.0.1', port: 80 }],
    ['[2001:db8::1]:443', { host: '2001:db8::1', port: 443 }],
    ['db-1.internal:5432', { host: 'db-1.internal', port: 5432 }],
    ['127.0.0.1:0', undefined],
    ['2001:db8::1:443', undefined],
    ['[nothost]:1', undefined],
    ['host:', undefined],
    [':80', undefined],
    ['host:80/path', undefined],
  ])('%s', (input, expected) => {
    expect(parseHostPort(input, 1)).toEqual(expected);
  });
});

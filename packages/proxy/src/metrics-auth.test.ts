import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { UNAUTHORIZED_HEADERS, isAuthorized } from './metrics-auth.js';

describe('isAuthorized', () => {
  it('lets everything through when no token is configured', () => {
    expect(isAuthorized(undefined, '')).toBe(true);
    expect(isAuthorized('Bearer anything', '')).toBe(true);
  });

  it('accepts exactly the configured bearer token', () => {
    expect(isAuthorized('Bearer secret-token', 'secret-token')).toBe(true);
    expect(isAuthorized('bearer secret-token', 'secret-token')).toBe(true);
    expect(isAuthorized('Bearer  secret-token ', 'secret-token')).toBe(true);
  });

  it.each([
    [undefined],
    [''],
    ['Bearer'],
    ['Bearer '],
    ['secret-token'],
    ['Basic secret-token'],
    ['Bearer secret-toke'],
    ['Bearer secret-token2'],
    ['Bearer Secret-token'],
    ['Bearer secret-token extra'],
    ['Bearersecret-token'],
  ])('refuses %j', (header) => {
    expect(isAuthorized(header, 'secret-token')).toBe(false);
  });

  it('does not accept an empty credential for a token', () => {
    expect(isAuthorized('Bearer ', 'x')).toBe(false);
    expect(isAuthorized(undefined, 'x')).toBe(false);
  });

  test.prop([fc.stringMatching(/^[!-~]{1,40}$/), fc.stringMatching(/^[!-~]{1,40}$/)])(
    'accepts a presented token only when it equals the configured one',
    (token, presented) => {
      expect(isAuthorized(`Bearer ${presented}`, token)).toBe(presented === token);
    },
  );

  it('asks for a bearer token in the 401 headers', () => {
    expect(UNAUTHORIZED_HEADERS['www-authenticate']).toBe('Bearer realm="proxykit"');
  });
});

import { describe, expect, it } from 'vitest';
import { isIdempotentMethod } from './idempotent-method.js';

describe('isIdempotentMethod', () => {
  it.each(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE', 'get', 'Put'])(
    '%s is idempotent',
    (m) => {
      expect(isIdempotentMethod(m)).toBe(true);
    },
  );

  it.each(['POST', 'PATCH', 'CONNECT', 'post', 'PURGE', ''])('%j is not', (m) => {
    expect(isIdempotentMethod(m)).toBe(false);
  });
});

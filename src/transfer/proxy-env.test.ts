import { describe, expect, it } from 'vitest';
import { bypasses, chooseProxy, redactProxy } from './proxy-env.js';

describe('chooseProxy, as curl reads the environment', () => {
  const u = (s: string) => new URL(s);
  it.each([
    ['https://a.example/x', { https_proxy: 'http://p:1' }, undefined, 'http://p:1', 'https_proxy'],
    ['https://a.example/x', { HTTPS_PROXY: 'http://p:2' }, undefined, 'http://p:2', 'HTTPS_PROXY'],
    [
      'https://a.example/x',
      { https_proxy: 'http://lo:1', HTTPS_PROXY: 'http://up:2' },
      undefined,
      'http://lo:1',
      'https_proxy',
    ],
    ['http://a.example/x', { HTTPS_PROXY: 'http://p:2' }, undefined, undefined, 'direct'],
    ['http://a.example/x', { HTTP_PROXY: 'http://p:3' }, undefined, 'http://p:3', 'HTTP_PROXY'],
    ['http://a.example/x', { ALL_PROXY: 'http://p:4' }, undefined, 'http://p:4', 'ALL_PROXY'],
    ['http://a.example/x', { HTTP_PROXY: 'http://p:3' }, 'http://flag:9', 'http://flag:9', '--proxy'],
    [
      'http://a.example/x',
      { HTTP_PROXY: 'http://p:3', NO_PROXY: 'ample' },
      undefined,
      'http://p:3',
      'HTTP_PROXY',
    ],
    [
      'http://a.example/x',
      { HTTP_PROXY: 'http://p:3', NO_PROXY: 'b.example, a.example' },
      undefined,
      undefined,
      'NO_PROXY',
    ],
    [
      'http://a.example/x',
      { HTTP_PROXY: 'http://p:3', no_proxy: '.example' },
      undefined,
      undefined,
      'no_proxy',
    ],
    [
      'http://a.example/x',
      { HTTP_PROXY: 'http://p:3', NO_PROXY: '*' },
      'http://flag:9',
      undefined,
      'NO_PROXY',
    ],
    ['http://a.example/x', { HTTP_PROXY: '' }, undefined, undefined, 'direct'],
  ])('%s with %j and --proxy %s: %s (%s)', (url, env, flag, proxy, from) => {
    expect(chooseProxy(u(url), env, flag)).toEqual({ proxy, from });
  });

  it('matches NO_PROXY entries by host suffix, port and IP', () => {
    expect(bypasses(u('http://10.0.0.1:80/'), '10.0.0.1')).toBe(true);
    expect(bypasses(u('http://a.example:8080/'), 'a.example:8080')).toBe(true);
    expect(bypasses(u('http://a.example:8080/'), 'a.example:80')).toBe(false);
    expect(bypasses(u('https://[::1]:443/'), '::1')).toBe(true);
    expect(bypasses(u('http://notexample.com/'), 'example.com')).toBe(false);
  });

  it('keeps a proxy password out of records', () => {
    expect(redactProxy('http://u:secret@p:3128')).toBe('http://u:***@p:3128/');
    expect(redactProxy('http://p:3128')).toBe('http://p:3128');
  });
});

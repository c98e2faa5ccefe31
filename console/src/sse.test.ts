import { describe, expect, it } from 'vitest';
import { SseParser } from './sse.js';

describe('SseParser', () => {
  it('answers events as they complete, across pieces split anywhere', () => {
    const p = new SseParser();
    expect(p.push('retry: 2000\n\nevent: activity\nda')).toEqual([]);
    expect(p.retryMs).toBe(2000);
    expect(p.push('ta: {"a":1}\n')).toEqual([]);
    expect(p.push('\n: alive\n\n')).toEqual([{ event: 'activity', data: '{"a":1}' }]);
  });

  it('joins data lines, names unnamed events message, and takes \\r\\n split between pieces', () => {
    const p = new SseParser();
    expect(p.push('data: one\r')).toEqual([]);
    expect(p.push('\ndata:two\r\n\r\n')).toEqual([{ event: 'message', data: 'one\ntwo' }]);
  });

  it('skips comments and blocks without data', () => {
    const p = new SseParser();
    expect(p.push(': keepalive\n\nevent: x\n\n')).toEqual([]);
    expect(p.push('data: y\n\n')).toEqual([{ event: 'message', data: 'y' }]);
  });
});

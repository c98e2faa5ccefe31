import { describe, expect, it } from 'vitest';
import { parseRate, RateLimiter } from './rate-limit.js';

describe('RateLimiter', () => {
  it('spaces takes from several streams on one timeline', async () => {
    let now = 0;
    const waits: number[] = [];
    const limiter = new RateLimiter(1000, 0, () => now);
    // With a fake clock every take reports how far ahead of "now" it was scheduled.
    const orig = globalThis.setTimeout;
    globalThis.setTimeout = ((fn: () => void, ms: number) => {
      waits.push(ms);
      fn();
      return 0;
    }) as unknown as typeof setTimeout;
    try {
      await Promise.all([limiter.take(500), limiter.take(500), limiter.take(1000)]);
      expect(waits).toEqual([500, 1000, 2000]);
      // Idle time is not banked beyond the burst: after a pause the next take waits its own share.
      now = 10_000;
      waits.length = 0;
      await limiter.take(10);
      expect(waits).toEqual([10]);
    } finally {
      globalThis.setTimeout = orig;
    }
  });

  it('lets a burst through without waiting', async () => {
    const limiter = new RateLimiter(1000, 4000, () => 0);
    const t0 = performance.now();
    await limiter.take(4000);
    expect(performance.now() - t0).toBeLessThan(50);
  });

  it('parses rates with binary units', () => {
    expect(parseRate('20M')).toBe(20 * 1024 * 1024);
    expect(parseRate('512K')).toBe(512 * 1024);
    expect(parseRate('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseRate('1000')).toBe(1000);
    expect(parseRate('20MB/s')).toBe(20 * 1024 * 1024);
    expect(parseRate('fast')).toBeNaN();
  });
});

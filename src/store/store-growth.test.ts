import { describe, expect, it } from 'vitest';
import { StoreGrowth } from './store-growth.js';

describe('StoreGrowth', () => {
  it('keeps the first reading, then changes at most one per gap, and a flat line now and then', () => {
    const g = new StoreGrowth({ minGapMs: 1000, flatMs: 10_000 });
    expect(g.sample(0, { chunks: 0, bytes: 0 })).toBe(true);
    expect(g.sample(500, { chunks: 1, bytes: 10 })).toBe(false);
    expect(g.sample(1000, { chunks: 1, bytes: 10 })).toBe(true);
    expect(g.sample(5000, { chunks: 1, bytes: 10 })).toBe(false);
    expect(g.sample(11_000, { chunks: 1, bytes: 10 })).toBe(true);
    expect(g.sample(12_000, { chunks: 2, bytes: 5 })).toBe(true);
    expect(g.samples().map((s) => [s.at, s.bytes])).toEqual([
      [0, 0],
      [1000, 10],
      [11_000, 10],
      [12_000, 5],
    ]);
  });

  it('stays within max by thinning the older half, keeping the first and the latest', () => {
    const g = new StoreGrowth({ max: 10, minGapMs: 1 });
    for (let i = 0; i <= 100; i++) g.sample(i, { chunks: i, bytes: i });
    const s = g.samples();
    expect(s.length).toBeLessThanOrEqual(10);
    expect(s[0]?.at).toBe(0);
    expect(s.at(-1)?.at).toBe(100);
    // Oldest first, no repeats.
    expect(s.map((x) => x.at)).toEqual([...new Set(s.map((x) => x.at))].sort((a, b) => a - b));
  });
});

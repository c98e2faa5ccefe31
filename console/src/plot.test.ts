import { describe, expect, it } from 'vitest';
import { scale } from './plot-geometry.js';
import { NO_RATES, nextRates } from './rate-history.js';
import type { Activity, Transfer } from './types.js';

const box = { width: 100, height: 50 };

describe('scale', () => {
  it('draws nothing without points', () => {
    expect(scale([], box).line).toBe('');
  });

  it('puts the first point on the left, the last on the right and the largest at the top', () => {
    const s = scale(
      [
        { t: 1000, v: 0 },
        { t: 2000, v: 10 },
        { t: 3000, v: 5 },
      ],
      box,
    );
    expect(s.line).toBe('M0,50 L50,0 L100,25');
    expect(s.area).toBe('M0,50 L50,0 L100,25 L100,50 L0,50 Z');
    expect(s.top).toBe(10);
    expect([s.from, s.to]).toEqual([1000, 3000]);
  });

  it('draws one point as a flat line across, and all zeros along the bottom', () => {
    expect(scale([{ t: 5, v: 3 }], box).line).toBe('M0,0 L100,0');
    expect(
      scale(
        [
          { t: 0, v: 0 },
          { t: 1, v: 0 },
        ],
        box,
      ).line,
    ).toBe('M0,50 L100,50');
  });
});

function reading(wire: Record<number, [number, number]>): Activity {
  const transfers = Object.entries(wire).map(
    ([id, [wireBytes, at]]) =>
      ({ jobId: Number(id), wireBytes, updatedAt: new Date(at).toISOString() }) as unknown as Transfer,
  );
  return { transfers, served: [], jobs: [], recent: [] };
}

describe('nextRates', () => {
  it('divides wire bytes between two records of a transfer by the time between them, whenever the reading came', () => {
    let s = nextRates(NO_RATES, reading({ 1: [0, 1000] }), 1100);
    expect(s.points).toEqual([]);
    // Read again before the next record: the rate is not known yet.
    s = nextRates(s, reading({ 1: [0, 1000] }), 1900);
    expect(s.points).toEqual([{ t: 1900, v: 0 }]);
    // The record of a second later came: 2 KiB in 1 s, though the readings were 0.2 s apart.
    s = nextRates(s, reading({ 1: [2048, 2000] }), 2100);
    expect(s.points.at(-1)).toEqual({ t: 2100, v: 2048 });
    // A reading with no new record keeps the rate; a new transfer counts from its second record.
    s = nextRates(s, reading({ 1: [2048, 2000], 2: [5000, 2000] }), 2300);
    expect(s.points.at(-1)).toEqual({ t: 2300, v: 2048 });
    s = nextRates(s, reading({ 1: [3072, 3000], 2: [6000, 2500] }), 3100);
    expect(s.points.at(-1)).toEqual({ t: 3100, v: 1024 + 2000 });
    // Transfers that left the stream ended: nothing moves.
    s = nextRates(s, reading({}), 3500);
    expect(s.points.at(-1)).toEqual({ t: 3500, v: 0 });
  });
});

/**
 * The transfer rate over time, from the events stream. Each transfer's rate is its wire
 * bytes between two of its records over the time between them by the server's clock
 * (`updatedAt`): the readings come when anything changed, not when its figures were
 * written, so the reading times would make bursts of what was written a second apart.
 * A point is the sum over the transfers in the reading, both ends (run here and run by
 * peers with it). Pure: the caller keeps the state.
 */
import type { Point } from './plot-geometry.js';
import type { Activity } from './types.js';

interface Figure {
  readonly wire: number;
  /** updatedAt, ms. */
  readonly at: number;
  readonly rate: number;
}

export interface RateState {
  readonly figures: ReadonlyMap<string, Figure>;
  readonly started: boolean;
  /** Oldest first, at most `MAX_POINTS`. */
  readonly points: readonly Point[];
}

export const MAX_POINTS = 300;

export const NO_RATES: RateState = { figures: new Map(), started: false, points: [] };

function rowsOf(a: Activity): [string, { wireBytes: number; updatedAt: string }][] {
  return [
    ...a.transfers.map((t) => [`t${t.jobId}`, t] as [string, typeof t]),
    ...a.served.map((t) => [`s${t.id}`, t] as [string, typeof t]),
  ];
}

function next(prev: Figure | undefined, wire: number, at: number): Figure {
  if (!prev) return { wire, at, rate: 0 };
  if (!(at > prev.at)) return prev;
  return { wire, at, rate: Math.max(0, Math.round(((wire - prev.wire) * 1000) / (at - prev.at))) };
}

/** The state after reading `a` at `now` (ms): one more point from the second reading on. */
export function nextRates(s: RateState, a: Activity, now: number): RateState {
  const figures = new Map<string, Figure>();
  for (const [k, t] of rowsOf(a))
    figures.set(k, next(s.figures.get(k), t.wireBytes, Date.parse(t.updatedAt)));
  if (!s.started) return { figures, started: true, points: s.points };
  const v = [...figures.values()].reduce((sum, f) => sum + f.rate, 0);
  return { figures, started: true, points: [...s.points, { t: now, v }].slice(-MAX_POINTS) };
}

/**
 * The transfer rate over time, from the events stream: each reading's wire bytes against
 * the previous reading's, for every transfer in both (both ends: run here and run by
 * peers with it), over the time between them. Pure: the caller keeps the state.
 */
import type { Point } from './plot-geometry.js';
import type { Activity } from './types.js';

export interface RateState {
  /** Wire bytes of each running transfer at the last reading, by key. */
  readonly wire: ReadonlyMap<string, number>;
  readonly at: number | undefined;
  /** Oldest first, at most `MAX_POINTS`. */
  readonly points: readonly Point[];
}

export const MAX_POINTS = 300;

export const NO_RATES: RateState = { wire: new Map(), at: undefined, points: [] };

function wireOf(a: Activity): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of a.transfers) m.set(`t${t.jobId}`, t.wireBytes);
  for (const t of a.served) m.set(`s${t.id}`, t.wireBytes);
  return m;
}

/** The state after reading `a` at `now` (ms): one more point once there is an earlier reading. */
export function nextRates(s: RateState, a: Activity, now: number): RateState {
  const wire = wireOf(a);
  if (s.at === undefined || now <= s.at) return { wire, at: now, points: s.points };
  let moved = 0;
  for (const [k, bytes] of wire) moved += Math.max(0, bytes - (s.wire.get(k) ?? bytes));
  const v = Math.round((moved * 1000) / (now - s.at));
  const points = [...s.points, { t: now, v }].slice(-MAX_POINTS);
  return { wire, at: now, points };
}

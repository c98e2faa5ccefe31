/** Pure geometry of the console's line plots: points in, SVG path data and axis figures out. */

export interface Point {
  /** Milliseconds since the epoch. */
  readonly t: number;
  readonly v: number;
}

export interface Box {
  readonly width: number;
  readonly height: number;
}

export interface Scaled {
  /** `d` of the line's path; empty with no point. */
  readonly line: string;
  /** `d` of the area under it, closed along the bottom. */
  readonly area: string;
  /** The largest value shown (the top of the plot); at least 1 so a flat zero still draws. */
  readonly top: number;
  readonly from: number;
  readonly to: number;
}

/** Maps `points` (oldest first) onto `box`: time along x, 0..max(v) up y (SVG y grows down). */
export function scale(points: readonly Point[], box: Box): Scaled {
  const first = points[0];
  const last = points.at(-1);
  if (!first || !last) return { line: '', area: '', top: 1, from: 0, to: 0 };
  const top = Math.max(1, ...points.map((p) => p.v));
  const span = last.t - first.t;
  const x = (t: number) => (span > 0 ? ((t - first.t) / span) * box.width : box.width);
  const y = (v: number) => box.height - (Math.max(0, v) / top) * box.height;
  const xy = points.map((p) => `${round(x(p.t))},${round(y(p.v))}`);
  // A single point draws as a flat line across, so it can be seen.
  const coords = xy.length === 1 ? [`0,${round(y(first.v))}`, ...xy] : xy;
  const line = `M${coords.join(' L')}`;
  const area = `${line} L${round(x(last.t))},${box.height} L${xy.length === 1 ? 0 : round(x(first.t))},${box.height} Z`;
  return { line, area, top, from: first.t, to: last.t };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

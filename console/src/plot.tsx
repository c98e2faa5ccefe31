/** A small line plot drawn as SVG by our own code: no library, no inline style (the CSP). */
import { formatBytes, formatRate } from './format.js';
import { type Point, scale } from './plot-geometry.js';
import type { StoreSample } from './types.js';

const BOX = { width: 600, height: 120 };

export function Plot({
  id,
  title,
  points,
  format,
  empty,
}: {
  id: string;
  title: string;
  points: readonly Point[];
  format(v: number): string;
  empty: string;
}) {
  const s = scale(points, BOX);
  const clock = (t: number) => new Date(t).toLocaleTimeString();
  return (
    <figure class="plot" id={id} data-points={points.length} data-top={s.top}>
      <figcaption>
        {title} {points.length ? <span class="muted">up to {format(s.top)}</span> : null}
      </figcaption>
      {points.length === 0 ? (
        <p class="muted">{empty}</p>
      ) : (
        <>
          <svg
            viewBox={`0 0 ${BOX.width} ${BOX.height}`}
            preserveAspectRatio="none"
            role="img"
            aria-label={title}
          >
            <path class="plot-area" d={s.area} />
            <path class="plot-line" d={s.line} />
          </svg>
          <div class="plot-axis muted">
            <span>{clock(s.from)}</span>
            <span class="plot-last">now {format(points.at(-1)?.v ?? 0)}</span>
            <span>{clock(s.to)}</span>
          </div>
        </>
      )}
    </figure>
  );
}

/** Bytes per second on the wire, all transfers both ways, from the events stream since this tab signed in. */
export function RatePlot({ points }: { points: readonly Point[] }) {
  return (
    <Plot
      id="rate-plot"
      title="Transfer rate"
      points={points}
      format={formatRate}
      empty="No transfer has moved since this page opened."
    />
  );
}

/** The store's bytes on disk since the server started (GET /api/v1/stats/growth). */
export function GrowthPlot({ samples }: { samples: readonly StoreSample[] }) {
  const points = samples.map((s) => ({ t: Date.parse(s.at), v: s.bytes }));
  return <Plot id="growth-plot" title="Store on disk" points={points} format={formatBytes} empty="…" />;
}

import { api } from '../api.js';
import { ago, errorText, formatBytes, formatRate, formatRatio } from '../format.js';
import { GrowthPlot, RatePlot } from '../plot.js';
import type { Point } from '../plot-geometry.js';
import type { Activity, Job, Peer, Stats, StoreSample } from '../types.js';
import { ErrorNote, ProgressBar, StateBadge, useEvery, useLoad } from '../widgets.js';

const DAY_MS = 86_400_000;
/** The server keeps a growth sample at most every 5 s: reading it more often shows nothing new. */
const GROWTH_EVERY_MS = 5000;

export function Dashboard({ activity, rates }: { activity: Activity | undefined; rates: readonly Point[] }) {
  const stats = useLoad(() => api<Stats>('GET', '/api/v1/stats'), []);
  const peers = useLoad(() => api<{ peers: Peer[] }>('GET', '/api/v1/peers?probe=true'), []);
  const growth = useLoad(() => api<{ samples: StoreSample[] }>('GET', '/api/v1/stats/growth'), []);
  useEvery(activity, GROWTH_EVERY_MS, growth.reload);
  const failed = useLoad(() => api<{ jobs: Job[] }>('GET', '/api/v1/jobs?state=failed&limit=200'), []);
  const now = Date.now();
  const s = stats.data;
  const lastDay = (failed.data?.jobs ?? []).filter((j) => now - Date.parse(j.updatedAt) < DAY_MS);
  const running = [...(activity?.transfers ?? []), ...(activity?.served ?? [])];
  return (
    <section id="dashboard">
      <h1>Dashboard</h1>
      <ErrorNote error={stats.error} />
      <div class="cards">
        <div class="card" id="store-size">
          <div class="label">Store on disk</div>
          <div class="figure">{formatBytes(s?.store.bytes)}</div>
          <div class="muted">{s ? `${s.store.chunks} chunks` : ''}</div>
        </div>
        <div class="card" id="dedup">
          <div class="label">Dedup ratio</div>
          <div class="figure">{formatRatio(s?.dedupRatio)}</div>
          <div class="muted">compression {formatRatio(s?.compressionRatio)}</div>
        </div>
        <div class="card" id="images-total">
          <div class="label">Images</div>
          <div class="figure">{s?.images.count ?? '—'}</div>
          <div class="muted">{formatBytes(s?.images.logicalBytes)} of payload</div>
        </div>
      </div>
      <div class="plots">
        <GrowthPlot samples={growth.data?.samples ?? []} />
        <RatePlot points={rates} />
      </div>
      <h2>Images by state</h2>
      <table id="by-state">
        <tbody>
          {Object.entries(s?.images.byState ?? {}).map(([state, n]) => (
            <tr key={state}>
              <td>
                <StateBadge state={state} />
              </td>
              <td class="num" data-state={state}>
                {n}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Peers</h2>
      <ErrorNote error={peers.error} />
      <table id="dashboard-peers">
        <tbody>
          {(peers.data?.peers ?? []).map((p) => (
            <tr key={p.name} data-peer={p.name}>
              <td>{p.name}</td>
              <td>
                <Reach p={p} />
              </td>
              <td class="muted">{p.endpoint}</td>
            </tr>
          ))}
          {peers.data?.peers.length === 0 ? (
            <tr>
              <td class="muted">no peers registered</td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <h2>Transfers running now</h2>
      <table id="dashboard-transfers">
        <tbody>
          {running.map((t) => (
            <tr key={'jobId' in t ? `t${t.jobId}` : `s${t.id}`} data-image={t.image}>
              <td>{t.image}</td>
              <td>
                {t.direction} {t.peer}
              </td>
              <td>
                <ProgressBar p={t} />
              </td>
              <td class="num">{formatRate(t.rate)}</td>
            </tr>
          ))}
          {running.length === 0 ? (
            <tr>
              <td class="muted">nothing is moving</td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <h2>Failed jobs, last 24 hours</h2>
      <table id="failed-jobs">
        <tbody>
          {lastDay.map((j) => (
            <tr key={j.id}>
              <td>#{j.id}</td>
              <td>{j.kind}</td>
              <td class="error-text">{errorText(j.error)}</td>
              <td class="muted">{ago(j.updatedAt, now)}</td>
            </tr>
          ))}
          {failed.data && lastDay.length === 0 ? (
            <tr>
              <td class="muted">none</td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </section>
  );
}

export function Reach({ p }: { p: Peer }) {
  if (p.reachable === undefined) return <span class="muted">not probed</span>;
  return p.reachable ? (
    <span class="badge ok">reachable</span>
  ) : (
    <span class="badge bad" title={p.error}>
      {p.errorCode ?? 'unreachable'}
    </span>
  );
}

import { useCallback } from 'preact/hooks';
import { api } from '../api.js';
import { ago, errorText, formatBytes, formatRate, jobProgress } from '../format.js';
import { mergeLive } from '../live.js';
import { RatePlot } from '../plot.js';
import type { Point } from '../plot-geometry.js';
import type { Activity, Job, ServedTransfer, Transfer } from '../types.js';
import { ErrorNote, ProgressBar, useLoad, useReloadOnFinish } from '../widgets.js';

/** Transfers both ways and the jobs, with live progress from the events stream. */
export function Transfers({ activity, rates }: { activity: Activity | undefined; rates: readonly Point[] }) {
  const mine = useLoad(() => api<{ transfers: Transfer[] }>('GET', '/api/v1/transfers?limit=50'), []);
  const served = useLoad(
    () => api<{ transfers: ServedTransfer[] }>('GET', '/api/v1/transfers/served?limit=50'),
    [],
  );
  const jobs = useLoad(() => api<{ jobs: Job[] }>('GET', '/api/v1/jobs?limit=50'), []);
  const reloadAll = useCallback(() => {
    mine.reload();
    served.reload();
    jobs.reload();
  }, [mine.reload, served.reload, jobs.reload]);
  useReloadOnFinish(activity, reloadAll);
  const now = Date.now();
  const ours = mergeLive(mine.data?.transfers ?? [], activity?.transfers ?? [], (t) => t.jobId);
  const theirs = mergeLive(served.data?.transfers ?? [], activity?.served ?? [], (t) => t.id);
  const jobRows = mergeLive(jobs.data?.jobs ?? [], activity?.jobs ?? [], (j) => j.id);
  return (
    <section id="transfers">
      <h1>Transfers and jobs</h1>
      <RatePlot points={rates} />
      <h2>Run by this server</h2>
      <ErrorNote error={mine.error} />
      <TransferTable
        id="own-transfers"
        rows={ours.map((t) => ({ key: t.jobId, label: `#${t.jobId}`, t, error: t.error, when: t.createdAt }))}
        now={now}
      />
      <h2>Run by peers with this server</h2>
      <ErrorNote error={served.error} />
      <TransferTable
        id="served-transfers"
        rows={theirs.map((t) => ({ key: t.id, label: `#${t.id}`, t, error: t.error, when: t.startedAt }))}
        now={now}
      />
      <h2>Jobs</h2>
      <ErrorNote error={jobs.error} />
      <table id="jobs">
        <thead>
          <tr>
            <th>Job</th>
            <th>Kind</th>
            <th>State</th>
            <th>Progress</th>
            <th>Attempts</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {jobRows.map((j) => (
            <tr key={j.id} data-job={j.id}>
              <td>#{j.id}</td>
              <td>{j.kind}</td>
              <td class={`job-${j.state}`}>
                {j.state}
                {j.error ? <div class="error-text">{errorText(j.error)}</div> : null}
              </td>
              <td>{jobProgress(j)}</td>
              <td>
                {j.attempts} / {j.maxAttempts}
              </td>
              <td class="muted">{ago(j.updatedAt, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface Row {
  key: number;
  label: string;
  t: Transfer | ServedTransfer;
  error: string | null;
  when: string;
}

function TransferTable({ id, rows, now }: { id: string; rows: Row[]; now: number }) {
  return (
    <table id={id}>
      <thead>
        <tr>
          <th>Id</th>
          <th>Image</th>
          <th>Way</th>
          <th>Peer</th>
          <th>State</th>
          <th>Progress</th>
          <th class="num">Already there</th>
          <th class="num">Wire bytes</th>
          <th class="num">Rate</th>
          <th>Started</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ key, label, t, error, when }) => (
          <tr key={key} data-image={t.image} data-state={t.state}>
            <td>{label}</td>
            <td>{t.image}</td>
            <td>{t.direction}</td>
            <td>{t.peer}</td>
            <td>
              {t.state}
              {error ? <div class="error-text">{errorText(error)}</div> : null}
            </td>
            <td>
              <ProgressBar p={t} />
            </td>
            <td class="num">{formatBytes(t.bytesPresent)}</td>
            <td class="num">{formatBytes(t.wireBytes)}</td>
            <td class="num">{formatRate(t.rate)}</td>
            <td class="muted">{ago(when, now)}</td>
          </tr>
        ))}
        {rows.length === 0 ? (
          <tr>
            <td class="muted" colSpan={10}>
              none yet
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

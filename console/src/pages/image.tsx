import { useState } from 'preact/hooks';
import { allows, api } from '../api.js';
import { errorText, formatBytes } from '../format.js';
import type { ImageDetail, Job, ServedTransfer, Template, Transfer } from '../types.js';
import { ActionNote, ErrorNote, StateBadge, useAction, useLoad } from '../widgets.js';
import { Lineage } from './lineage.js';

const STATES = ['TESTABLE', 'RESTRICTED', 'PUBLISHED'];

/** One image, and the actions the token's role may take on it (the server checks again). */
export function ImagePage({ name, role }: { name: string; role: string }) {
  const detail = useLoad(() => api<ImageDetail>('GET', `/api/v1/images/${encodeURIComponent(name)}`), [name]);
  const templates = useLoad(() => api<{ templates: Template[] }>('GET', '/api/v1/templates'), []);
  const holders = useLoad(() => peersHolding(name), [name]);
  const action = useAction(detail.reload);
  const { busy } = action;
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [state, setState] = useState('');
  const path = `/api/v1/images/${encodeURIComponent(name)}`;

  const act = action.run;
  const setImageState = () =>
    act('Changing the state', async () => {
      const target = state || (detail.data?.image.state ?? '');
      await api('PUT', `${path}/state`, { state: target });
      return `State set to ${target}.`;
    });
  const verify = () =>
    act('Verifying', async () => {
      let job = await api<Job>('POST', `${path}/verify`);
      while (job.state === 'queued' || job.state === 'running') {
        job = await api<Job>(
          'GET',
          `/api/v1/jobs/${job.id}?wait=10&since=${encodeURIComponent(job.updatedAt)}`,
        );
      }
      if (job.state !== 'succeeded')
        throw new Error(`verify job #${job.id} ${job.state}: ${errorText(job.error)}`);
      return `Verified: every chunk read back and checked (job #${job.id}).`;
    });
  const remove = () =>
    act('Deleting', async () => {
      await api('DELETE', path);
      location.hash = '#/images';
      return `Deleted ${name}.`;
    });

  const d = detail.data;
  const i = d?.image;
  return (
    <section id="image">
      <p>
        <a href="#/images">‹ Images</a>
      </p>
      <h1>{name}</h1>
      <ErrorNote error={detail.error} />
      {i ? (
        <>
          <dl class="facts">
            <dt>State</dt>
            <dd id="image-state">
              <StateBadge state={i.state} />
            </dd>
            <dt>Kind, type</dt>
            <dd>
              {i.kind}, {i.imageType}
            </dd>
            <dt>Size</dt>
            <dd id="image-size">{formatBytes(i.size)}</dd>
            <dt>Stored size</dt>
            <dd id="image-stored">{formatBytes(i.storedBytes)}</dd>
            <dt>Chunks</dt>
            <dd id="image-chunks">{i.chunkCount}</dd>
            <dt>Files</dt>
            <dd>{i.fileCount}</dd>
            <dt>Origin</dt>
            <dd id="image-origin">
              {i.origin}
              {i.receivedFrom ? ` (replica, via ${i.receivedFrom})` : ''}
            </dd>
            <dt>Parent</dt>
            <dd>{i.parentName ?? '—'}</dd>
            <dt>Series</dt>
            <dd id="image-series">{d.series.length ? d.series.join(', ') : '—'}</dd>
            <dt>Descendants</dt>
            <dd>{d.descendants.length ? d.descendants.join(', ') : '—'}</dd>
            <dt>Templates</dt>
            <dd id="image-templates">
              {templatesOf(templates.data?.templates ?? [], name).join(', ') || '—'}
            </dd>
            <dt>Copies on peers</dt>
            <dd id="image-replicas" title="from the transfer records this server keeps">
              {holders.data === undefined ? '…' : holders.data.join(', ') || '—'}
            </dd>
            <dt>Digest</dt>
            <dd class="mono">{i.digest}</dd>
            <dt>Created</dt>
            <dd>{i.createdAt}</dd>
          </dl>
          <h2>Lineage</h2>
          <Lineage name={i.name} ancestors={d.ancestors} children={d.descendants} />
          <h2>Working copies</h2>
          <table id="working-copies">
            <tbody>
              {d.workingCopies.map((w) => (
                <tr key={w.id}>
                  <td>{w.host}</td>
                  <td class="mono">{w.path}</td>
                  <td class="muted">{w.createdAt}</td>
                </tr>
              ))}
              {d.workingCopies.length === 0 ? (
                <tr>
                  <td class="muted">none recorded</td>
                </tr>
              ) : null}
            </tbody>
          </table>
          {allows(role, 'operator') ? (
            <div class="actions" id="image-actions">
              <h2>Actions</h2>
              <label>
                State{' '}
                <select
                  id="state-select"
                  value={state || i.state}
                  onChange={(e) => setState((e.target as HTMLSelectElement).value)}
                >
                  {STATES.map((s) => (
                    <option key={s} value={s}>
                      {s}
                    </option>
                  ))}
                </select>
              </label>{' '}
              <button type="button" id="set-state" disabled={busy} onClick={setImageState}>
                Set state
              </button>{' '}
              <button type="button" id="verify" disabled={busy} onClick={verify}>
                Verify
              </button>{' '}
              {allows(role, 'admin') ? (
                confirmDelete ? (
                  <button type="button" id="delete-confirm" class="danger" disabled={busy} onClick={remove}>
                    Really delete {name}?
                  </button>
                ) : (
                  <button type="button" id="delete" class="danger" onClick={() => setConfirmDelete(true)}>
                    Delete
                  </button>
                )
              ) : null}
            </div>
          ) : null}
          <ActionNote action={action} />
        </>
      ) : null}
    </section>
  );
}

/** The templates naming `image`: as a member, or in the version last published ("v3"). */
function templatesOf(templates: readonly Template[], image: string): string[] {
  return templates
    .filter((t) => t.members.includes(image) || t.published.some((i) => i.name === image))
    .map((t) => (t.published.some((i) => i.name === image) ? `${t.name} v${t.latestVersion}` : t.name));
}

/**
 * The peers that took a copy of `image` from here, as the transfer records say: pushes that
 * succeeded and pulls peers finished. Records past the history's days are gone, and so
 * are the copies they name.
 */
async function peersHolding(image: string): Promise<string[]> {
  const [pushed, pulled] = await Promise.all([
    api<{ transfers: Transfer[] }>('GET', '/api/v1/transfers?limit=1000'),
    api<{ transfers: ServedTransfer[] }>('GET', '/api/v1/transfers/served?direction=out&limit=1000'),
  ]);
  const peers = [
    ...pushed.transfers
      .filter((t) => t.image === image && t.direction === 'push' && t.state === 'succeeded')
      .map((t) => t.peer),
    ...pulled.transfers.filter((t) => t.image === image && t.state === 'done').map((t) => t.peer),
  ];
  return [...new Set(peers)].sort();
}

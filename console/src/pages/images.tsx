import { useEffect, useState } from 'preact/hooks';
import { allows, api, query } from '../api.js';
import { formatBytes, pageOf } from '../format.js';
import type { Image } from '../types.js';
import { ErrorNote, StateBadge, useLoad } from '../widgets.js';
import { PullForm } from './pull.js';

const PAGE_SIZE = 50;

/**
 * The images, searched and paged by the server (`q`, `limit`, `offset`): fast with many thousands;
 * an operator may also pull one from a peer.
 */
export function Images({ role }: { role: string }) {
  const [typed, setTyped] = useState('');
  const [q, setQ] = useState('');
  const [page, setPage] = useState(0);
  useEffect(() => {
    const t = setTimeout(() => {
      setQ(typed.trim());
      setPage(0);
    }, 200);
    return () => clearTimeout(t);
  }, [typed]);
  const list = useLoad(
    () =>
      api<{ images: Image[]; total: number }>(
        'GET',
        `/api/v1/images${query({ q, limit: PAGE_SIZE, offset: page * PAGE_SIZE })}`,
      ),
    [q, page],
  );
  const total = list.data?.total ?? 0;
  const p = pageOf(page, PAGE_SIZE, total);
  return (
    <section id="images">
      <h1>Images</h1>
      <div class="toolbar">
        <input
          type="search"
          id="image-search"
          placeholder="Search names"
          maxLength={64}
          value={typed}
          onInput={(e) => setTyped((e.target as HTMLInputElement).value)}
        />
        <button type="button" id="prev-page" disabled={p.page === 0} onClick={() => setPage(p.page - 1)}>
          ‹ Previous
        </button>
        <span id="page-label">{list.data ? p.label : '…'}</span>
        <button type="button" id="next-page" disabled={p.page >= p.last} onClick={() => setPage(p.page + 1)}>
          Next ›
        </button>
      </div>
      <ErrorNote error={list.error} />
      <table id="image-list">
        <thead>
          <tr>
            <th>Name</th>
            <th>Type</th>
            <th>State</th>
            <th class="num">Size</th>
            <th class="num">Stored</th>
            <th>Origin</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.images ?? []).map((i) => (
            <tr key={i.name} data-image={i.name}>
              <td>
                <a href={`#/images/${encodeURIComponent(i.name)}`}>{i.name}</a>
              </td>
              <td>{i.imageType}</td>
              <td>
                <StateBadge state={i.state} />
              </td>
              <td class="num">{formatBytes(i.size)}</td>
              <td class="num">{formatBytes(i.storedBytes)}</td>
              <td>{i.receivedFrom ? `${i.origin} (via ${i.receivedFrom})` : i.origin}</td>
              <td class="muted">{i.createdAt.slice(0, 19).replace('T', ' ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && total === 0 ? <p class="muted">No image matches.</p> : null}
      {allows(role, 'operator') ? <PullForm done={list.reload} /> : null}
    </section>
  );
}

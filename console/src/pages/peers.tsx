import { useState } from 'preact/hooks';
import { allows, api } from '../api.js';
import { filterBody, parseDescribed } from '../filters.js';
import { ago, formatRate } from '../format.js';
import type { Peer } from '../types.js';
import { type Action, ActionNote, ErrorNote, useAction, useLoad } from '../widgets.js';
import { Reach } from './dashboard.js';
import { InstantiateForm } from './instantiate.js';

/** Registered peers: reachability now, what each asked of the other, rate caps; instantiate and withdraw by role. */
export function Peers({ role }: { role: string }) {
  const peers = useLoad(() => api<{ peers: Peer[] }>('GET', '/api/v1/peers?probe=true'), []);
  const action = useAction(peers.reload);
  const may = allows(role, 'operator');
  const list = peers.data?.peers ?? [];
  const now = Date.now();
  return (
    <section id="peers">
      <h1>Peers</h1>
      <ErrorNote error={peers.error} />
      <table id="peer-list">
        <thead>
          <tr>
            <th>Name</th>
            <th>Cluster name</th>
            <th>Reachable</th>
            <th>It asked us to push</th>
            <th>We asked it to push</th>
            <th class="num">Rate cap</th>
            <th>Uploads</th>
            <th>Last contact</th>
          </tr>
        </thead>
        <tbody>
          {list.map((p) => (
            <tr key={p.name} data-peer={p.name}>
              <td>
                {p.name}
                <div class="muted mono">{p.endpoint}</div>
              </td>
              <td>{p.clusterName}</td>
              <td>
                <Reach p={p} />
              </td>
              <td class="pushes-to">{p.pushesTo.length ? p.pushesTo.join(', ') : '—'}</td>
              <td class="pushes-here">
                {p.pushesHere.length
                  ? p.pushesHere.map((f) => (
                      <Asked key={f} peer={p.name} filter={f} action={may ? action : undefined} />
                    ))
                  : '—'}
              </td>
              <td class="num max-rate">{p.maxRate === null ? 'no cap' : formatRate(p.maxRate)}</td>
              <td>{p.allowUploads ? 'taken' : 'refused'}</td>
              <td class="muted">{ago(p.lastContactAt, now)}</td>
            </tr>
          ))}
          {peers.data?.peers.length === 0 ? (
            <tr>
              <td class="muted" colSpan={8}>
                no peers registered (ingot register server)
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <ActionNote action={action} id="peers-note" />
      {may && list.length > 0 ? (
        <InstantiateForm peers={list.map((p) => p.name)} done={peers.reload} />
      ) : null}
    </section>
  );
}

/** One filter this server asked a peer to push by, with its withdraw button. */
function Asked({ peer, filter, action }: { peer: string; filter: string; action: Action | undefined }) {
  const [sure, setSure] = useState(false);
  const form = parseDescribed(filter);
  const withdraw = () =>
    action?.run(`Withdrawing ${filter} from ${peer}`, async () => {
      const r = await api<{ filter: string; removed: boolean }>(
        'POST',
        `/api/v1/peers/${encodeURIComponent(peer)}/uninstantiate`,
        form ? filterBody(form) : {},
      );
      return `${r.removed ? 'Withdrew' : 'Nothing stood for'} ${r.filter} at ${peer}; replicas already here stay.`;
    });
  return (
    <div class="asked" data-filter={filter}>
      <span class="mono">{filter}</span>{' '}
      {action && form ? (
        sure ? (
          <button type="button" class="withdraw-confirm danger" disabled={action.busy} onClick={withdraw}>
            Really withdraw?
          </button>
        ) : (
          <button type="button" class="withdraw" onClick={() => setSure(true)}>
            Withdraw
          </button>
        )
      ) : null}
    </div>
  );
}

import { api } from '../api.js';
import { ago, formatRate } from '../format.js';
import type { Peer } from '../types.js';
import { ErrorNote, useLoad } from '../widgets.js';
import { Reach } from './dashboard.js';

/** Registered peers: reachability now, what each asked of the other, rate caps. */
export function Peers() {
  const peers = useLoad(() => api<{ peers: Peer[] }>('GET', '/api/v1/peers?probe=true'), []);
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
          {(peers.data?.peers ?? []).map((p) => (
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
              <td class="pushes-here">{p.pushesHere.length ? p.pushesHere.join(', ') : '—'}</td>
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
    </section>
  );
}

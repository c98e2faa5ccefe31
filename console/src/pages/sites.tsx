import { useCallback } from 'preact/hooks';
import { allows, api } from '../api.js';
import { ago, errorText, formatBytes, formatEvery, formatRate } from '../format.js';
import type { Activity, Following, SyncStarted, Template } from '../types.js';
import {
  type Action,
  ActionNote,
  ErrorNote,
  StateBadge,
  useAction,
  useLoad,
  useReloadOnFinish,
} from '../widgets.js';

/** Templates (this server's own, and the mirrors of those it follows) and its followings, with publish and sync now. */
export function Sites({ role, activity }: { role: string; activity: Activity | undefined }) {
  const templates = useLoad(() => api<{ templates: Template[] }>('GET', '/api/v1/templates'), []);
  const followings = useLoad(() => api<{ followings: Following[] }>('GET', '/api/v1/followings'), []);
  const reloadBoth = useCallback(() => {
    templates.reload();
    followings.reload();
  }, [templates.reload, followings.reload]);
  const action = useAction(reloadBoth);
  // A sync job that ended changed its following's last status and the mirror it keeps.
  useReloadOnFinish(activity, reloadBoth);
  const may = allows(role, 'operator');
  return (
    <section id="sites">
      <h1>Sites</h1>
      <h2>Templates</h2>
      <ErrorNote error={templates.error} />
      <Templates rows={templates.data?.templates ?? []} action={may ? action : undefined} />
      <h2>Followed here</h2>
      <ErrorNote error={followings.error} />
      <Followings rows={followings.data?.followings ?? []} action={may ? action : undefined} />
      <ActionNote action={action} id="sites-note" />
    </section>
  );
}

function publish(action: Action, name: string) {
  return action.run(`Publishing ${name}`, async () => {
    const t = await api<Template>('POST', `/api/v1/templates/${encodeURIComponent(name)}/publish`);
    const n = t.published.length;
    return `Published ${name} version ${t.latestVersion} (${n} image${n === 1 ? '' : 's'}).`;
  });
}

function Templates({ rows, action }: { rows: Template[]; action: Action | undefined }) {
  return (
    <table id="template-list">
      <thead>
        <tr>
          <th>Template</th>
          <th>Members</th>
          <th>Latest version</th>
          <th>In that version</th>
          {action ? <th /> : null}
        </tr>
      </thead>
      <tbody>
        {rows.map((t) => (
          <tr key={t.name} data-template={t.name}>
            <td>
              {t.name}
              <div class="muted">
                {t.upstream ? `mirror of ${t.upstream}` : t.description || 'this server’s'}
              </div>
            </td>
            <td class="members">{t.members.length ? t.members.join(', ') : '—'}</td>
            <td class="version">
              {t.latestVersion === null ? 'not published' : `v${t.latestVersion}`}
              <div class="muted">{t.publishedAt ?? ''}</div>
            </td>
            <td class="published">
              {t.published.map((i) => (
                <div key={i.name}>
                  {i.name} <StateBadge state={i.state} /> <span class="muted">{formatBytes(i.size)}</span>
                </div>
              ))}
            </td>
            {action ? (
              <td>
                {t.upstream === null ? (
                  <button
                    type="button"
                    class="publish"
                    disabled={action.busy}
                    onClick={() => publish(action, t.name)}
                  >
                    Publish v{(t.latestVersion ?? 0) + 1}
                  </button>
                ) : null}
              </td>
            ) : null}
          </tr>
        ))}
        {rows.length === 0 ? (
          <tr>
            <td class="muted" colSpan={5}>
              no templates (ingot template create NAME)
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

function syncNow(action: Action, f: Following) {
  return action.run(`Syncing from ${f.upstream}`, async () => {
    const r = await api<SyncStarted>('POST', '/api/v1/sync', { upstream: f.upstream, now: true });
    const jobs = r.started.map((s) => `${s.template}: job #${s.job}`).join(', ');
    return `Sync from ${f.upstream} started (${jobs}).`;
  });
}

function Followings({ rows, action }: { rows: Following[]; action: Action | undefined }) {
  const now = Date.now();
  return (
    <table id="following-list">
      <thead>
        <tr>
          <th>Upstream</th>
          <th>Template</th>
          <th>Every</th>
          <th>Window</th>
          <th class="num">Rate cap</th>
          <th>Last sync</th>
          <th>Next</th>
          {action ? <th /> : null}
        </tr>
      </thead>
      <tbody>
        {rows.map((f) => (
          <tr key={`${f.upstream}/${f.template}`} data-following={`${f.upstream}/${f.template}`}>
            <td>{f.upstream}</td>
            <td>{f.template}</td>
            <td>{formatEvery(f.everySeconds)}</td>
            <td>{f.window ?? 'any time'}</td>
            <td class="num">{f.maxRate === null ? 'no cap' : formatRate(f.maxRate)}</td>
            <td class="last-sync">
              <span class={`sync-${f.lastStatus ?? 'never'}`}>{f.lastStatus ?? 'never'}</span>
              {f.lastVersion !== null ? ` v${f.lastVersion}` : ''}{' '}
              <span class="muted">{ago(f.lastRunAt, now)}</span>
              {f.lastError ? <div class="error-text">{errorText(f.lastError)}</div> : null}
            </td>
            <td class="muted">{f.nextRunAt}</td>
            {action ? (
              <td>
                <button
                  type="button"
                  class="sync-now"
                  disabled={action.busy}
                  onClick={() => syncNow(action, f)}
                >
                  Sync now
                </button>
              </td>
            ) : null}
          </tr>
        ))}
        {rows.length === 0 ? (
          <tr>
            <td class="muted" colSpan={8}>
              this server follows no template (ingot follow --upstream HQ --template NAME)
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

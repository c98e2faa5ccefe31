import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { FILTER_KINDS, type FilterForm, filterBody } from '../filters.js';
import { exactBytes, formatBytes } from '../format.js';
import type { InstantiatePlan } from '../types.js';
import { ActionNote, Choice, StateBadge, useAction } from '../widgets.js';

const STATES = ['PUBLISHED', 'RESTRICTED', 'TESTABLE'];

/**
 * Instantiate by filter in two steps: the dry run first, whose exact bytes are shown, then
 * the confirmation of that same filter (changing the form asks for a new dry run).
 */
export function InstantiateForm({ peers, done }: { peers: string[]; done(): void }) {
  const [peer, setPeer] = useState(peers[0] ?? '');
  const [form, setForm] = useState<FilterForm>({ kind: 'all', value: '', state: 'PUBLISHED' });
  const [plan, setPlan] = useState<InstantiatePlan | undefined>(undefined);
  const action = useAction();
  const change = (f: Partial<FilterForm>) => {
    setForm({ ...form, ...f });
    setPlan(undefined);
  };
  const path = `/api/v1/peers/${encodeURIComponent(peer)}/instantiate`;
  const dryRun = () =>
    action.run('Asking for a dry run', async () => {
      setPlan(undefined);
      const p = await api<InstantiatePlan>('POST', path, { ...filterBody(form), dryRun: true });
      setPlan(p);
      return '';
    });
  const confirm = () =>
    action.run(`Instantiating from ${peer}`, async () => {
      const r = await api<{ filter: string; created: boolean; images?: { name: string }[] }>(
        'POST',
        path,
        filterBody(form),
      );
      setPlan(undefined);
      done();
      const n = r.images?.length ?? 0;
      return `${r.created ? 'Instantiated' : 'Already instantiated'} ${r.filter} from ${peer}; ${n} image${n === 1 ? '' : 's'} queued there for push.`;
    });
  return (
    <div class="actions" id="instantiate">
      <h2>Instantiate from a peer</h2>
      <div class="form-row">
        <Choice
          label="Peer"
          id="instantiate-peer"
          value={peer}
          options={peers}
          on={(v) => {
            setPeer(v);
            setPlan(undefined);
          }}
        />
        <Choice
          label="Filter"
          id="instantiate-kind"
          value={form.kind}
          options={FILTER_KINDS}
          on={(v) => change({ kind: v as FilterForm['kind'] })}
        />
        {form.kind === 'all' ? null : (
          <input
            id="instantiate-value"
            placeholder={form.kind === 'imagetype' ? 'image type' : form.kind}
            maxLength={64}
            value={form.value}
            onInput={(e) => change({ value: (e.target as HTMLInputElement).value })}
          />
        )}
        <Choice
          label="State"
          id="instantiate-state"
          value={form.state}
          options={STATES}
          on={(v) => change({ state: v })}
        />
        <button type="button" id="instantiate-dry-run" disabled={action.busy} onClick={dryRun}>
          Dry run
        </button>
      </div>
      {plan ? <PlanView plan={plan} peer={peer} busy={action.busy} confirm={confirm} /> : null}
      <ActionNote action={action} id="instantiate-note" />
    </div>
  );
}

function PlanView({
  plan,
  peer,
  busy,
  confirm,
}: {
  plan: InstantiatePlan;
  peer: string;
  busy: boolean;
  confirm(): void;
}) {
  return (
    <div class="plan" id="instantiate-plan" data-bytes={plan.bytesMissing}>
      <p>
        {peer} offers <strong>{plan.images.length}</strong> image{plan.images.length === 1 ? '' : 's'} for{' '}
        <span class="mono">{plan.filter}</span>; this server lacks{' '}
        <strong id="plan-bytes">{exactBytes(plan.bytesMissing)}</strong> ({formatBytes(plan.bytesMissing)},{' '}
        {plan.chunksMissing} chunks).
      </p>
      <table id="plan-images">
        <tbody>
          {plan.images.map((i) => (
            <tr key={i.meta.name} data-image={i.meta.name}>
              <td>{i.meta.name}</td>
              <td>
                <StateBadge state={i.meta.state} />
              </td>
              <td>{i.status === 'present' ? 'already here' : 'needed'}</td>
              <td class="num plan-missing">{exactBytes(i.bytesMissing)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" id="instantiate-confirm" disabled={busy} onClick={confirm}>
        Instantiate {plan.filter} from {peer}
      </button>
    </div>
  );
}

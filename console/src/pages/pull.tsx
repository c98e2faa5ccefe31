import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { exactBytes, formatBytes } from '../format.js';
import type { Peer, TransferPlan } from '../types.js';
import { ActionNote, Choice, useAction, useLoad } from '../widgets.js';

/**
 * Pull one image from a peer in two steps, as `ingot image pull --dry-run` and then without:
 * the dry run's exact bytes first, then the transfer job for that same peer and name.
 */
export function PullForm({ done }: { done(): void }) {
  const peers = useLoad(() => api<{ peers: Peer[] }>('GET', '/api/v1/peers'), []);
  const names = (peers.data?.peers ?? []).map((p) => p.name);
  const [picked, setPeer] = useState('');
  const [image, setImage] = useState('');
  const [plan, setPlan] = useState<TransferPlan | undefined>(undefined);
  const action = useAction();
  const peer = picked || names[0] || '';
  const path = `/api/v1/peers/${encodeURIComponent(peer)}/pull`;
  const dryRun = () =>
    action.run(`Asking ${peer} about ${image}`, async () => {
      setPlan(undefined);
      setPlan(await api<TransferPlan>('POST', path, { image, dryRun: true }));
      return '';
    });
  const confirm = () =>
    action.run(`Pulling ${image} from ${peer}`, async () => {
      const r = await api<{ job: number; existing: boolean }>('POST', path, { image });
      setPlan(undefined);
      done();
      return `${r.existing ? 'Already pulling' : 'Pulling'} ${image} from ${peer} (job #${r.job}); its progress is under Transfers.`;
    });
  if (peers.data && names.length === 0) return null;
  return (
    <div class="actions" id="pull">
      <h2>Pull from a peer</h2>
      <div class="form-row">
        <Choice
          label="Peer"
          id="pull-peer"
          value={peer}
          options={names}
          on={(v) => {
            setPeer(v);
            setPlan(undefined);
          }}
        />
        <input
          id="pull-image"
          placeholder="image name"
          maxLength={64}
          value={image}
          onInput={(e) => {
            setImage((e.target as HTMLInputElement).value.trim());
            setPlan(undefined);
          }}
        />
        <button type="button" id="pull-dry-run" disabled={action.busy || !image || !peer} onClick={dryRun}>
          Dry run
        </button>
      </div>
      {plan ? (
        <PullPlanView plan={plan} peer={peer} image={image} busy={action.busy} confirm={confirm} />
      ) : null}
      <ActionNote action={action} id="pull-note" />
    </div>
  );
}

function PullPlanView(p: {
  plan: TransferPlan;
  peer: string;
  image: string;
  busy: boolean;
  confirm(): void;
}) {
  const one = p.plan.images[0];
  const wire = one?.wireBytes;
  return (
    <div class="plan" id="pull-plan" data-bytes={p.plan.bytesMissing}>
      <p>
        {one?.status === 'present' ? (
          <>This server already holds {p.image}; a pull moves nothing.</>
        ) : (
          <>
            This server lacks <strong id="pull-plan-bytes">{exactBytes(p.plan.bytesMissing)}</strong> of{' '}
            {p.image} ({formatBytes(p.plan.bytesMissing)} of {formatBytes(one?.bytesTotal ?? 0)},{' '}
            {p.plan.chunksMissing} chunks
            {wire == null ? '' : `; ${exactBytes(wire)} on the wire with ${one?.chunksDelta ?? 0} as deltas`}
            ).
          </>
        )}
      </p>
      <button type="button" id="pull-confirm" disabled={p.busy} onClick={p.confirm}>
        Pull {p.image} from {p.peer}
      </button>
    </div>
  );
}

import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import type { Db } from '../db/database.js';
import type { JobHandler } from '../jobs/job-runner.js';
import { NO_PROGRESS, type TransferProgress, type TransferResult } from '../transfer/image-sides.js';
import { transferImage } from '../transfer/image-transfer.js';
import type { RateLimits } from '../transfer/rate-limit.js';
import { TransferRepository } from '../transfer/transfer.repository.js';
import { type LocalSideDeps, localSink, localSource, ownImages } from './local-sides.js';
import type { PeerService } from './peer.service.js';
import type { PeerLinks } from './peer-links.js';
import type { TransferJobPayload } from './replication.service.js';

/** How often a running transfer writes its figures to the database. */
const PROGRESS_EVERY_MS = 1000;

export interface TransferJobDeps {
  readonly db: Db;
  readonly peers: PeerService;
  readonly links: PeerLinks;
  readonly local: LocalSideDeps;
  readonly limits: RateLimits;
  readonly onWireBytes?: (peer: string, direction: 'sent' | 'received', n: number) => void;
  /** Called after each write of the transfer's record (the events stream listens). */
  readonly onRecorded?: () => void;
  readonly clock?: Clock;
}

/**
 * Runs one push or pull. Push: this server is the source and the peer the sink; pull: the
 * other way round; the transfer itself is the same code. A peer unregistered meanwhile is
 * NOT_FOUND, which ends the job at once instead of retrying.
 */
export function transferJob(deps: TransferJobDeps): JobHandler {
  return async (job, ctx): Promise<TransferResult> => {
    const p = job.payload as TransferJobPayload;
    const peer = await deps.peers.get(p.peer);
    const client = deps.links.client(peer);
    const push = p.direction === 'push';
    const source = push
      ? localSource(deps.local, ownImages(deps.local.keys, [p.state]), peer.name)
      : client.source();
    const sink = push ? client.sink() : localSink(deps.local, peer);
    const transfers = new TransferRepository(deps.db.kysely);
    const now = () => (deps.clock ?? systemClock).now().toISOString();
    let last = 0;
    let latest: TransferProgress = NO_PROGRESS;
    const record = async (progress: TransferProgress) => {
      latest = { ...progress };
      ctx.progress(progress.bytesDone, progress.bytesTotal);
      if (Date.now() - last < PROGRESS_EVERY_MS) return;
      last = Date.now();
      await transfers.progress(job.id, progress, now());
      deps.onRecorded?.();
    };
    await transfers.started(job.id, NO_PROGRESS, now());
    deps.onRecorded?.();
    let result: TransferResult;
    try {
      result = await transferImage(source, sink, p.image, {
        limiter: deps.limits.forPeer(peer.name, peer.maxRate),
        signal: ctx.signal,
        onProgress: (progress) => void record(progress).catch(() => undefined),
        onWireBytes: (n) => deps.onWireBytes?.(peer.name, push ? 'sent' : 'received', n),
      });
    } catch (err) {
      // The record keeps what this attempt moved, not the figures of up to a second ago.
      await transfers.progress(job.id, latest, now()).catch(() => undefined);
      throw damagedAt(err, push ? deps.local.self : peer.name, push ? peer.name : deps.local.self);
    }
    await transfers.finished(job.id, result, now(), result.outcome, result.digest);
    deps.onRecorded?.();
    await deps.peers.touch(peer.name);
    return result;
  };
}

/**
 * A chunk the receiver refused as damaged came, over mutual TLS, from the sender's store:
 * the sender's stored copy is damaged (the sender serves stored bytes without re-hashing
 * them; the receiver verifies). CORRUPT, naming the chunk and the server to repair.
 */
function damagedAt(err: unknown, sender: string, receiver: string): unknown {
  if (!(err instanceof IngotError) || err.code !== 'DIGEST_MISMATCH') return err;
  const rejected = (err.details?.rejected ?? []) as { digest: string }[];
  const chunk = rejected[0]?.digest ?? 'a chunk';
  const n = rejected.length > 1 ? ` (and ${rejected.length - 1} more)` : '';
  return new IngotError(
    'CORRUPT',
    `${receiver} refused chunk ${chunk}${n} from ${sender}: ${sender}'s stored copy is damaged`,
    {
      hint: `on ${sender}: \`ingot image verify\` finds the damaged images; add them again from their source, or pull them from another server, then retry`,
      details: { sender, receiver, chunks: rejected.map((r) => r.digest) },
      cause: err,
    },
  );
}

/** Queries on `transfers`: one row per push or pull job, with its running figures. */
import type { Kysely, Selectable } from 'kysely';
import {
  ENDED_JOB_STATES,
  type Schema,
  type TransferProgressColumns,
  type TransferTable,
} from '../db/schema.js';
import type { TransferProgress } from './image-sides.js';

export type TransferDirection = 'push' | 'pull';

export interface TransferRecord extends TransferProgress {
  jobId: number;
  direction: TransferDirection;
  peer: string;
  image: string;
  digest: string | null;
  /** created, present (nothing to do), or null while unfinished. */
  outcome: string | null;
  startedAt: string | null;
  updatedAt: string;
}

export class TransferRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  async create(
    jobId: number,
    direction: TransferDirection,
    peer: string,
    image: string,
    at: string,
  ): Promise<void> {
    await this.db
      .insertInto('transfers')
      .values({ job_id: jobId, direction, peer_name: peer, image_name: image, updated_at: at })
      .execute();
  }

  /** Figures are per attempt: a resumed attempt starts its counts again, the rest is `bytesPresent`. */
  started(jobId: number, p: TransferProgress, at: string): Promise<void> {
    return this.record(jobId, p, at, { started_at: at, outcome: null });
  }

  progress(jobId: number, p: TransferProgress, at: string): Promise<void> {
    return this.record(jobId, p, at, {});
  }

  finished(jobId: number, p: TransferProgress, at: string, outcome: string, digest: string): Promise<void> {
    return this.record(jobId, p, at, { outcome, digest });
  }

  private async record(
    jobId: number,
    p: TransferProgress,
    at: string,
    extra: Partial<Pick<TransferTable, 'started_at' | 'outcome' | 'digest'>>,
  ): Promise<void> {
    await this.db
      .updateTable('transfers')
      .set({ ...progressColumns(p), updated_at: at, ...extra })
      .where('job_id', '=', jobId)
      .execute();
  }

  /** Transfers whose job is running now (on any node), by direction. */
  async running(): Promise<Record<TransferDirection, number>> {
    const rows = await this.db
      .selectFrom('transfers')
      .innerJoin('jobs', 'jobs.id', 'transfers.job_id')
      .select(['transfers.direction', (eb) => eb.fn.countAll<number>().as('n')])
      .where('jobs.state', '=', 'running')
      .groupBy('transfers.direction')
      .execute();
    const counts: Record<TransferDirection, number> = { push: 0, pull: 0 };
    for (const r of rows) counts[r.direction] = Number(r.n);
    return counts;
  }

  /** The job id of a queued or running transfer of this image with this peer, if any. */
  async active(direction: TransferDirection, peer: string, image: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('transfers')
      .innerJoin('jobs', 'jobs.id', 'transfers.job_id')
      .select('transfers.job_id')
      .where('transfers.direction', '=', direction)
      .where('transfers.peer_name', '=', peer)
      .where('transfers.image_name', '=', image)
      .where('jobs.state', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.job_id);
  }

  async get(jobId: number): Promise<TransferRecord | undefined> {
    const row = await this.db
      .selectFrom('transfers')
      .selectAll()
      .where('job_id', '=', jobId)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** Deletes the rows of transfers whose jobs ended before `before` (history retention). */
  async deleteOfEndedJobs(before: string): Promise<number> {
    const ended = this.db
      .selectFrom('jobs')
      .select('id')
      .where('state', 'in', ENDED_JOB_STATES)
      .where('updated_at', '<', before);
    const r = await this.db.deleteFrom('transfers').where('job_id', 'in', ended).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async list(filter: { peer?: string; limit?: number } = {}): Promise<TransferRecord[]> {
    let q = this.db.selectFrom('transfers').selectAll();
    if (filter.peer) q = q.where('peer_name', '=', filter.peer);
    const rows = await q
      .orderBy('job_id', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }
}

/** The figures as columns of `transfers` or `peer_transfers`. */
export function progressColumns(p: TransferProgress) {
  return {
    bytes_total: p.bytesTotal,
    bytes_done: p.bytesDone,
    bytes_present: p.bytesPresent,
    wire_bytes: p.wireBytes,
    chunks_total: p.chunksTotal,
    chunks_sent: p.chunksSent,
    chunks_delta: p.chunksDelta,
  };
}

function toRecord(r: Selectable<TransferTable>): TransferRecord {
  return {
    jobId: Number(r.job_id),
    direction: r.direction,
    peer: r.peer_name,
    image: r.image_name,
    digest: r.digest,
    ...progressOf(r),
    outcome: r.outcome,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
  };
}

/** The figures of a row of `transfers` or `peer_transfers` (bigint columns read as numbers). */
export function progressOf(r: Selectable<TransferProgressColumns>): TransferProgress {
  return {
    bytesTotal: Number(r.bytes_total),
    bytesDone: Number(r.bytes_done),
    bytesPresent: Number(r.bytes_present),
    wireBytes: Number(r.wire_bytes),
    chunksTotal: Number(r.chunks_total),
    chunksSent: Number(r.chunks_sent),
    chunksDelta: Number(r.chunks_delta),
  };
}

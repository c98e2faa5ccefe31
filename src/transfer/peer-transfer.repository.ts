/**
 * Queries on `peer_transfers`: a transfer a peer runs with this server, seen from here
 * (the passive side). `in`: the peer pushes here; `out`: the peer pulls from here.
 */
import type { Kysely, Selectable } from 'kysely';
import type { PeerTransferState, PeerTransferTable, Schema } from '../db/schema.js';
import type { TransferProgress } from './image-sides.js';
import { progressColumns, progressOf } from './transfer.repository.js';

export type PeerTransferDirection = 'in' | 'out';

export interface PeerTransferRecord extends TransferProgress {
  id: number;
  direction: PeerTransferDirection;
  peer: string;
  image: string;
  digest: string;
  state: PeerTransferState;
  /** created or present once done; null before. */
  outcome: string | null;
  error: string | null;
  startedAt: string;
  updatedAt: string;
}

export class PeerTransferRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  async create(
    r: { direction: PeerTransferDirection; peer: string; image: string; digest: string },
    p: TransferProgress,
    at: string,
  ): Promise<number> {
    const row = await this.db
      .insertInto('peer_transfers')
      .values({
        direction: r.direction,
        peer_name: r.peer,
        image_name: r.image,
        digest: r.digest,
        state: 'running',
        ...progressColumns(p),
        started_at: at,
        updated_at: at,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  /** Figures of a running row (one that was abandoned meanwhile stays so). */
  async progress(id: number, p: TransferProgress, at: string): Promise<void> {
    await this.db
      .updateTable('peer_transfers')
      .set({ ...progressColumns(p), updated_at: at })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .execute();
  }

  async finish(
    id: number,
    p: TransferProgress,
    end: { state: 'done' | 'failed'; outcome?: string; error?: string },
    at: string,
  ): Promise<void> {
    await this.db
      .updateTable('peer_transfers')
      .set({
        ...progressColumns(p),
        state: end.state,
        outcome: end.outcome ?? null,
        error: end.error ?? null,
        updated_at: at,
      })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Ends the running rows of this transfer that another node of the server wrote (its offer
   * was taken there; its end reached this node): their figures stay that node's, the bytes
   * done become the total. How many rows ended.
   */
  async finishRunning(
    r: { direction: PeerTransferDirection; peer: string; digest: string },
    end: { state: 'done' | 'failed'; outcome?: string; error?: string },
    at: string,
  ): Promise<number> {
    const done = end.state === 'done';
    const u = await this.db
      .updateTable('peer_transfers')
      .set((eb) => ({
        state: end.state,
        outcome: end.outcome ?? null,
        error: end.error ?? null,
        updated_at: at,
        bytes_done: done ? eb.ref('bytes_total') : eb.ref('bytes_done'),
      }))
      .where('direction', '=', r.direction)
      .where('peer_name', '=', r.peer)
      .where('digest', '=', r.digest)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(u.numUpdatedRows);
  }

  /** Deletes the rows of transfers that ended before `before` (history retention). */
  async deleteEnded(before: string): Promise<number> {
    const r = await this.db
      .deleteFrom('peer_transfers')
      .where('state', '!=', 'running')
      .where('updated_at', '<', before)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Running rows with no progress since `before` become abandoned; how many did. */
  async abandon(before: string): Promise<number> {
    const r = await this.db
      .updateTable('peer_transfers')
      .set({ state: 'abandoned' })
      .where('state', '=', 'running')
      .where('updated_at', '<', before)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async get(id: number): Promise<PeerTransferRecord | undefined> {
    const row = await this.db
      .selectFrom('peer_transfers')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async list(
    filter: { peer?: string; direction?: PeerTransferDirection; limit?: number } = {},
  ): Promise<PeerTransferRecord[]> {
    let q = this.db.selectFrom('peer_transfers').selectAll();
    if (filter.peer) q = q.where('peer_name', '=', filter.peer);
    if (filter.direction) q = q.where('direction', '=', filter.direction);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }
}

function toRecord(r: Selectable<PeerTransferTable>): PeerTransferRecord {
  return {
    id: Number(r.id),
    direction: r.direction,
    peer: r.peer_name,
    image: r.image_name,
    digest: r.digest,
    state: r.state,
    ...progressOf(r),
    outcome: r.outcome,
    error: r.error,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
  };
}

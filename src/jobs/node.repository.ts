/**
 * SQL for the node registry (migration 009): node rows, the named leases and the recorded
 * identity. Each write is one conditional statement, atomic on both engines, so two nodes
 * racing for the leader lease cannot both win it.
 */
import type { Kysely, Selectable } from 'kysely';
import type { NodeState, NodeTable, Schema, ServerIdentityTable } from '../db/schema.js';

export type NodeRow = Selectable<NodeTable>;
export type IdentityRow = Omit<ServerIdentityTable, 'id' | 'recorded_at'>;

export class NodeRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  /** The identity the catalog records; the first caller's is recorded if none is. */
  async recordIdentity(mine: IdentityRow, now: string): Promise<IdentityRow> {
    await this.db
      .insertInto('server_identity')
      .values({ id: 1, ...mine, recorded_at: now })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    return this.db
      .selectFrom('server_identity')
      .select(['cluster_name', 'signing_key_id', 'peer_cert_fingerprint'])
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
  }

  async upsert(row: NodeRow): Promise<void> {
    const { id, ...rest } = row;
    await this.db
      .insertInto('nodes')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(rest))
      .execute();
  }

  /** Records a heartbeat; answers the node's state as stored (a drain is set by any node), or undefined. */
  async beat(id: string, now: string): Promise<NodeState | undefined> {
    const row = await this.db
      .updateTable('nodes')
      .set({ heartbeat_at: now })
      .where('id', '=', id)
      .returning('state')
      .executeTakeFirst();
    return row?.state;
  }

  /** Sets a node's state unless it is in one of `unless`; the row as it is after, or undefined. */
  async setState(id: string, state: NodeState, unless: readonly NodeState[]): Promise<NodeRow | undefined> {
    await this.db
      .updateTable('nodes')
      .set({ state })
      .where('id', '=', id)
      .$if(unless.length > 0, (q) => q.where('state', 'not in', unless))
      .execute();
    return this.get(id);
  }

  get(id: string): Promise<NodeRow | undefined> {
    return this.db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
  }

  list(): Promise<NodeRow[]> {
    return this.db.selectFrom('nodes').selectAll().orderBy('started_at').orderBy('id').execute();
  }

  /** Forgets nodes silent since before `before` (stopped or dead long ago); how many. */
  async forgetSilent(before: string): Promise<number> {
    const r = await this.db.deleteFrom('nodes').where('heartbeat_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Ends the job leases of nodes silent since `deadline`, so live nodes claim the jobs; how many. */
  async expireJobsOfSilent(deadline: string, now: string): Promise<number> {
    const silent = this.db.selectFrom('nodes').select('id').where('heartbeat_at', '<', deadline);
    const r = await this.db
      .updateTable('jobs')
      .set({ lease_expires_at: now, updated_at: now })
      .where('state', '=', 'running')
      .where('lease_owner', 'in', silent)
      .where('lease_expires_at', '>', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** The running jobs and who holds them. */
  heldJobs(): Promise<{ id: number; lease_owner: string | null }[]> {
    return this.db
      .selectFrom('jobs')
      .select(['id', 'lease_owner'])
      .where('state', '=', 'running')
      .orderBy('id')
      .execute();
  }

  /**
   * Takes or renews the lease `name` for `holder` until `until`: won when free, expired or
   * already `holder`'s. Whether `holder` holds it now.
   */
  async acquire(name: string, holder: string, now: string, until: string): Promise<boolean> {
    // The renewal is the common case: one statement a tick; the insert only for a new lease.
    const r = await this.db
      .updateTable('server_leases')
      .set((eb) => ({
        acquired_at: eb.case().when('holder', '=', holder).then(eb.ref('acquired_at')).else(now).end(),
        holder,
        expires_at: until,
      }))
      .where('name', '=', name)
      .where((eb) => eb.or([eb('holder', '=', holder), eb('expires_at', '<=', now)]))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) > 0) return true;
    const inserted = await this.db
      .insertInto('server_leases')
      .values({ name, holder, acquired_at: now, expires_at: until })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Ends `holder`'s lease now, so another node need not wait out its expiry. */
  async release(name: string, holder: string, now: string): Promise<void> {
    await this.db
      .updateTable('server_leases')
      .set({ expires_at: now })
      .where('name', '=', name)
      .where('holder', '=', holder)
      .execute();
  }

  async holder(name: string, now: string): Promise<{ holder: string; acquired_at: string } | undefined> {
    return this.db
      .selectFrom('server_leases')
      .select(['holder', 'acquired_at'])
      .where('name', '=', name)
      .where('expires_at', '>', now)
      .executeTakeFirst();
  }
}

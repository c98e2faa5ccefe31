/**
 * SQL for the job queue. Every state change is one conditional UPDATE, so it is atomic on
 * both engines without a multi-statement transaction: on SQLite a single statement holds
 * the write lock for its whole run, on PostgreSQL the claim skips rows others have locked.
 */
import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import { type DialectName, ENDED_JOB_STATES, type JobTable, type Schema } from '../db/schema.js';
import type { Job, JobProgress, JobState } from './types.js';

type Row = Selectable<JobTable>;

export class JobRepository {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: DialectName,
  ) {}

  async insert(row: Omit<JobTable, 'id'>): Promise<Job> {
    return toJob(await this.db.insertInto('jobs').values(row).returningAll().executeTakeFirstOrThrow());
  }

  async get(id: number): Promise<Job | undefined> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toJob(row);
  }

  async list(f: { state?: JobState; kind?: string; limit: number }): Promise<Job[]> {
    let q = this.db.selectFrom('jobs').selectAll();
    if (f.state) q = q.where('state', '=', f.state);
    if (f.kind) q = q.where('kind', '=', f.kind);
    return (await q.orderBy('id', 'desc').limit(f.limit).execute()).map(toJob);
  }

  /** Takes the oldest runnable job of one of `kinds`: queued and due, or running with a dead lease. */
  async claim(
    owner: string,
    kinds: readonly string[],
    now: string,
    leaseUntil: string,
  ): Promise<Job | undefined> {
    const runnable = (eb: ExpressionBuilder<Schema, 'jobs'>) =>
      eb.and([
        eb('kind', 'in', kinds),
        eb('attempts', '<', eb.ref('max_attempts')),
        eb.or([
          eb.and([eb('state', '=', 'queued'), eb('run_after', '<=', now)]),
          eb.and([eb('state', '=', 'running'), eb('lease_expires_at', '<', now)]),
        ]),
      ]);
    const pick = this.db
      .selectFrom('jobs')
      .select('id')
      .where(runnable)
      .orderBy('id')
      .limit(1)
      .$if(this.dialect === 'postgres', (q) => q.forUpdate().skipLocked());
    const row = await this.db
      .updateTable('jobs')
      .set((eb) => ({
        state: 'running',
        lease_owner: owner,
        lease_expires_at: leaseUntil,
        attempts: eb('attempts', '+', 1),
        updated_at: now,
      }))
      .where('id', '=', pick)
      .where(runnable)
      .returningAll()
      .executeTakeFirst();
    return row && toJob(row);
  }

  /** Running jobs whose lease died on their last allowed attempt can never be claimed: end them. */
  async failExhausted(now: string, error: string): Promise<number> {
    const r = await this.db
      .updateTable('jobs')
      .set({ state: 'failed', error, lease_owner: null, lease_expires_at: null, updated_at: now })
      .where('state', '=', 'running')
      .where('lease_expires_at', '<', now)
      .where((eb) => eb('attempts', '>=', eb.ref('max_attempts')))
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Ends the lease of every running job this owner holds, so any node can claim them now. */
  async expireLeases(owner: string, now: string): Promise<number> {
    const r = await this.db
      .updateTable('jobs')
      .set({ lease_expires_at: now, updated_at: now })
      .where('state', '=', 'running')
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /**
   * Deletes the jobs that ended (succeeded, failed, cancelled) before `before`, and the
   * checkpoints they left (a failed import's); how many jobs.
   */
  async deleteEnded(before: string): Promise<number> {
    const ended = this.db
      .selectFrom('jobs')
      .select('id')
      .where('state', 'in', ENDED_JOB_STATES)
      .where('updated_at', '<', before);
    await this.db.deleteFrom('job_checkpoints').where('job_id', 'in', ended).execute();
    const r = await this.db
      .deleteFrom('jobs')
      .where('state', 'in', ENDED_JOB_STATES)
      .where('updated_at', '<', before)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Applies `set` only while `owner` still holds the job; undefined means the lease was lost. */
  async updateHeld(id: number, owner: string, set: Partial<Omit<JobTable, 'id'>>): Promise<Job | undefined> {
    const row = await this.db
      .updateTable('jobs')
      .set(set)
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('lease_owner', '=', owner)
      .returningAll()
      .executeTakeFirst();
    return row && toJob(row);
  }

  async cancel(id: number, now: string): Promise<Job | undefined> {
    const row = await this.db
      .updateTable('jobs')
      .set({ state: 'cancelled', lease_owner: null, lease_expires_at: null, updated_at: now })
      .where('id', '=', id)
      .where('state', 'in', ['queued', 'running'])
      .returningAll()
      .executeTakeFirst();
    return row && toJob(row);
  }
}

export function progressColumns(p: JobProgress | undefined): Partial<JobTable> {
  return p ? { progress_done: p.done, progress_total: p.total } : {};
}

function toJob(row: Row): Job {
  return {
    id: Number(row.id),
    kind: row.kind,
    state: row.state,
    payload: JSON.parse(row.payload) as unknown,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    error: row.error,
    progressDone: Number(row.progress_done),
    progressTotal: Number(row.progress_total),
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    runAfter: row.run_after,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

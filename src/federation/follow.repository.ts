/** Queries on `followings`: which upstream templates this server follows, and how it went. */
import type { Kysely, Selectable } from 'kysely';
import type { FollowingTable, Schema } from '../db/schema.js';

export interface FollowingRecord {
  upstream: string;
  template: string;
  everySeconds: number;
  window: string | null;
  maxRate: number | null;
  createdAt: string;
  nextRunAt: string;
  lastRunAt: string | null;
  lastSuccessAt: string | null;
  lastVersion: number | null;
  /** ok, running, retrying, failed; null before the first sync. */
  lastStatus: string | null;
  lastError: string | null;
}

export class FollowRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  async get(upstream: string, template: string): Promise<FollowingRecord | undefined> {
    const r = await this.db
      .selectFrom('followings')
      .selectAll()
      .where('upstream', '=', upstream)
      .where('template_name', '=', template)
      .executeTakeFirst();
    return r && toRecord(r);
  }

  async list(upstream?: string): Promise<FollowingRecord[]> {
    let q = this.db.selectFrom('followings').selectAll();
    if (upstream) q = q.where('upstream', '=', upstream);
    return (await q.orderBy('upstream').orderBy('template_name').execute()).map(toRecord);
  }

  async due(now: string): Promise<FollowingRecord[]> {
    const rows = await this.db.selectFrom('followings').selectAll().where('next_run_at', '<=', now).execute();
    return rows.map(toRecord);
  }

  async upsert(f: FollowingRecord): Promise<void> {
    const values = {
      upstream: f.upstream,
      template_name: f.template,
      every_seconds: f.everySeconds,
      window: f.window,
      max_rate: f.maxRate,
      created_at: f.createdAt,
      next_run_at: f.nextRunAt,
      last_run_at: f.lastRunAt,
      last_success_at: f.lastSuccessAt,
      last_version: f.lastVersion,
      last_status: f.lastStatus,
      last_error: f.lastError,
    };
    await this.db
      .insertInto('followings')
      .values(values)
      .onConflict((oc) =>
        oc.columns(['upstream', 'template_name']).doUpdateSet({
          every_seconds: values.every_seconds,
          window: values.window,
          max_rate: values.max_rate,
          next_run_at: values.next_run_at,
        }),
      )
      .execute();
  }

  async update(
    upstream: string,
    template: string,
    set: Partial<Omit<FollowingTable, 'upstream' | 'template_name'>>,
  ): Promise<void> {
    await this.db
      .updateTable('followings')
      .set(set)
      .where('upstream', '=', upstream)
      .where('template_name', '=', template)
      .execute();
  }

  async delete(upstream: string, template: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('followings')
      .where('upstream', '=', upstream)
      .where('template_name', '=', template)
      .executeTakeFirst();
    return r.numDeletedRows > 0n;
  }
}

function toRecord(r: Selectable<FollowingTable>): FollowingRecord {
  return {
    upstream: r.upstream,
    template: r.template_name,
    everySeconds: Number(r.every_seconds),
    window: r.window,
    maxRate: r.max_rate === null ? null : Number(r.max_rate),
    createdAt: r.created_at,
    nextRunAt: r.next_run_at,
    lastRunAt: r.last_run_at,
    lastSuccessAt: r.last_success_at,
    lastVersion: r.last_version === null ? null : Number(r.last_version),
    lastStatus: r.last_status,
    lastError: r.last_error,
  };
}

/** SQL for the releases a server keeps for a roll (migration 011). */
import type { Kysely, Selectable } from 'kysely';
import type { ReleaseTable, Schema } from '../db/schema.js';

export type ReleaseRow = Selectable<ReleaseTable>;

export class ReleaseRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  /** Inserts unless the version is there; whether this call inserted it. */
  async insert(row: ReleaseRow): Promise<boolean> {
    const r = await this.db
      .insertInto('releases')
      .values(row)
      .onConflict((oc) => oc.column('version').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  get(version: string): Promise<ReleaseRow | undefined> {
    return this.db.selectFrom('releases').selectAll().where('version', '=', version).executeTakeFirst();
  }

  list(): Promise<ReleaseRow[]> {
    return this.db.selectFrom('releases').selectAll().orderBy('added_at').execute();
  }
}

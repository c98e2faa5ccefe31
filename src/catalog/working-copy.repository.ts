/** Queries on `working_copies`. */
import type { Kysely, Selectable } from 'kysely';
import type { Schema, WorkingCopyTable } from '../db/schema.js';
import type { WorkingCopyRecord } from './types.js';

export class WorkingCopyRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  async insert(w: Omit<WorkingCopyRecord, 'id'>): Promise<WorkingCopyRecord> {
    const row = await this.db
      .insertInto('working_copies')
      .values({ image_name: w.imageName, host: w.host, path: w.path, created_at: w.createdAt })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toWorkingCopy(row);
  }

  async list(filter: { image?: string; host?: string } = {}): Promise<WorkingCopyRecord[]> {
    let q = this.db.selectFrom('working_copies').selectAll();
    if (filter.image) q = q.where('image_name', '=', filter.image);
    if (filter.host) q = q.where('host', '=', filter.host);
    const rows = await q.orderBy('host').orderBy('path').execute();
    return rows.map(toWorkingCopy);
  }

  async countForImage(image: string): Promise<number> {
    const r = await this.db
      .selectFrom('working_copies')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('image_name', '=', image)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async deleteForImage(image: string): Promise<void> {
    await this.db.deleteFrom('working_copies').where('image_name', '=', image).execute();
  }

  async get(id: number): Promise<WorkingCopyRecord | undefined> {
    const row = await this.db
      .selectFrom('working_copies')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toWorkingCopy(row);
  }

  async find(host: string, path: string): Promise<WorkingCopyRecord | undefined> {
    const row = await this.db
      .selectFrom('working_copies')
      .selectAll()
      .where('host', '=', host)
      .where('path', '=', path)
      .executeTakeFirst();
    return row && toWorkingCopy(row);
  }

  async delete(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('working_copies').where('id', '=', id).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }
}

function toWorkingCopy(row: Selectable<WorkingCopyTable>): WorkingCopyRecord {
  return {
    id: Number(row.id),
    imageName: row.image_name,
    host: row.host,
    path: row.path,
    createdAt: row.created_at,
  };
}

/** Queries on `image_types`. */
import type { Kysely, Selectable } from 'kysely';
import type { ImageTypeTable, Schema } from '../db/schema.js';
import type { BaseType, ImageTypeRecord } from './types.js';

export class ImageTypeRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  async get(name: string): Promise<ImageTypeRecord | undefined> {
    const row = await this.db
      .selectFrom('image_types')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toImageType(row);
  }

  /** Built-in base types first, then user types, each by name. */
  async list(): Promise<ImageTypeRecord[]> {
    const rows = await this.db
      .selectFrom('image_types')
      .selectAll()
      .orderBy('builtin', 'desc')
      .orderBy('name')
      .execute();
    return rows.map(toImageType);
  }

  async insert(t: ImageTypeRecord): Promise<void> {
    await this.db
      .insertInto('image_types')
      .values({
        name: t.name,
        base_type: t.baseType,
        description: t.description,
        builtin: t.builtin ? 1 : 0,
        created_at: t.createdAt,
      })
      .execute();
  }

  async delete(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('image_types').where('name', '=', name).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }
}

function toImageType(row: Selectable<ImageTypeTable>): ImageTypeRecord {
  return {
    name: row.name,
    baseType: row.base_type as BaseType,
    description: row.description,
    builtin: Number(row.builtin) === 1,
    createdAt: row.created_at,
  };
}

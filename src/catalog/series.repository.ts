/** Queries on `series` and `series_images`. */
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { toImage } from './image.repository.js';
import type { ImageRecord, SeriesRecord, SeriesSummary } from './types.js';

export class SeriesRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  async get(name: string): Promise<SeriesRecord | undefined> {
    const row = await this.db.selectFrom('series').selectAll().where('name', '=', name).executeTakeFirst();
    return row && { name: row.name, description: row.description, createdAt: row.created_at };
  }

  async list(): Promise<SeriesSummary[]> {
    const rows = await this.db
      .selectFrom('series')
      .leftJoin('series_images', 'series_images.series_name', 'series.name')
      .select(['series.name', 'series.description', 'series.created_at'])
      .select((eb) => eb.fn.count<number>('series_images.image_name').as('n'))
      .groupBy(['series.name', 'series.description', 'series.created_at'])
      .orderBy('series.name')
      .execute();
    return rows.map((r) => ({
      name: r.name,
      description: r.description,
      createdAt: r.created_at,
      imageCount: Number(r.n),
    }));
  }

  async insert(s: SeriesRecord): Promise<void> {
    await this.db
      .insertInto('series')
      .values({ name: s.name, description: s.description, created_at: s.createdAt })
      .execute();
  }

  /** Memberships go with the series (cascade); the images stay. */
  async delete(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('series').where('name', '=', name).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  /**
   * Serialises appends to one series: a no-op UPDATE takes the row lock on PostgreSQL (and
   * SQLite already holds its write lock), so two appends cannot pick the same position.
   * Returns false when the series does not exist.
   */
  async lock(name: string): Promise<boolean> {
    const r = await this.db
      .updateTable('series')
      .set((eb) => ({ name: eb.ref('name') }))
      .where('name', '=', name)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  async nextPosition(name: string): Promise<number> {
    const r = await this.db
      .selectFrom('series_images')
      .select((eb) => eb.fn.max<number | null>('position').as('p'))
      .where('series_name', '=', name)
      .executeTakeFirst();
    return r?.p == null ? 1 : Number(r.p) + 1;
  }

  async hasMember(series: string, image: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('series_images')
      .select('position')
      .where('series_name', '=', series)
      .where('image_name', '=', image)
      .executeTakeFirst();
    return row !== undefined;
  }

  async addMember(series: string, image: string, position: number, addedAt: string): Promise<void> {
    await this.db
      .insertInto('series_images')
      .values({ series_name: series, image_name: image, position, added_at: addedAt })
      .execute();
  }

  async removeMember(series: string, image: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('series_images')
      .where('series_name', '=', series)
      .where('image_name', '=', image)
      .executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  /** Images in series order, newest last. */
  async members(series: string): Promise<ImageRecord[]> {
    const rows = await this.db
      .selectFrom('series_images')
      .innerJoin('images', 'images.name', 'series_images.image_name')
      .selectAll('images')
      .where('series_images.series_name', '=', series)
      .orderBy('series_images.position')
      .execute();
    return rows.map(toImage);
  }

  async seriesOf(image: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('series_images')
      .select('series_name')
      .where('image_name', '=', image)
      .orderBy('series_name')
      .execute();
    return rows.map((r) => r.series_name);
  }
}

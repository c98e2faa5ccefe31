/** Queries on `images`. No rules here: the service decides what is allowed. */
import { type Insertable, type Kysely, type Selectable, type SelectQueryBuilder, sql } from 'kysely';
import type { Digest } from '../core/manifest.js';
import { IMAGE_STATES, type ImageState } from '../core/states.js';
import type { ImageTable, Schema } from '../db/schema.js';
import type { ImageFilter, ImagePage, ImageRecord } from './types.js';

export class ImageRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  async get(name: string): Promise<ImageRecord | undefined> {
    const row = await this.db.selectFrom('images').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toImage(row);
  }

  async getByDigest(digest: string): Promise<ImageRecord | undefined> {
    const row = await this.db
      .selectFrom('images')
      .selectAll()
      .where('digest', '=', digest)
      .orderBy('name')
      .executeTakeFirst();
    return row && toImage(row);
  }

  async insert(image: ImageRecord): Promise<void> {
    await this.db.insertInto('images').values(fromImage(image)).execute();
  }

  /** Ordered by name, or by series position when filtering by series. */
  async list(filter: ImageFilter = {}, page?: ImagePage): Promise<ImageRecord[]> {
    let q = this.filtered(filter).selectAll('images');
    q = filter.series ? q.orderBy('series_images.position') : q.orderBy('images.name');
    if (page) q = q.limit(page.limit).offset(page.offset);
    return (await q.execute()).map(toImage);
  }

  /** How many images `list(filter)` answers without a page. */
  async count(filter: ImageFilter = {}): Promise<number> {
    const row = await this.filtered(filter)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Every image's logical bytes and stored bytes (shared chunks counted in each), added up. */
  async byteSums(): Promise<{ logicalBytes: number; storedBytes: number }> {
    const row = await this.db
      .selectFrom('images')
      .select((eb) => [
        eb.fn.coalesce(eb.fn.sum<number>('size'), sql<number>`0`).as('logical'),
        eb.fn.coalesce(eb.fn.sum<number>('stored_bytes'), sql<number>`0`).as('stored'),
      ])
      .executeTakeFirstOrThrow();
    return { logicalBytes: Number(row.logical), storedBytes: Number(row.stored) };
  }

  private filtered(filter: ImageFilter): SelectQueryBuilder<Schema, 'images' | 'series_images', object> {
    let q = this.db.selectFrom('images') as unknown as SelectQueryBuilder<
      Schema,
      'images' | 'series_images',
      object
    >;
    if (filter.type) q = q.where('images.image_type', '=', filter.type);
    if (filter.state) q = q.where('images.state', '=', filter.state);
    if (filter.receivedFrom) q = q.where('images.received_from', '=', filter.receivedFrom);
    if (filter.origin) q = q.where('images.origin', '=', filter.origin);
    if (filter.originKeyId) q = q.where('images.origin_key_id', '=', filter.originKeyId);
    if (filter.nameContains) {
      // Case-insensitive on both databases; % and _ in the search are literal.
      const pattern = `%${filter.nameContains.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where(sql<boolean>`lower(images.name) like ${pattern} escape '\\'`);
    }
    if (filter.series) {
      q = q
        .innerJoin('series_images', 'series_images.image_name', 'images.name')
        .where('series_images.series_name', '=', filter.series);
    }
    return q;
  }

  /** Images made here (not received) that name `origin` and have no key id yet get `keyId`. */
  async adoptOwn(origin: string, keyId: string): Promise<number> {
    const r = await this.db
      .updateTable('images')
      .set({ origin_key_id: keyId })
      .where('origin_key_id', 'is', null)
      .where('received_from', 'is', null)
      .where('origin', '=', origin)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async children(name: string): Promise<ImageRecord[]> {
    const rows = await this.db
      .selectFrom('images')
      .selectAll()
      .where('parent_name', '=', name)
      .orderBy('created_at')
      .orderBy('name')
      .execute();
    return rows.map(toImage);
  }

  async setState(name: string, state: ImageState): Promise<boolean> {
    const r = await this.db.updateTable('images').set({ state }).where('name', '=', name).executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  /** Descendants stay; they keep parent_digest, so lineage survives in the manifests. */
  async detachChildren(name: string): Promise<void> {
    await this.db.updateTable('images').set({ parent_name: null }).where('parent_name', '=', name).execute();
  }

  async delete(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('images').where('name', '=', name).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  async countOfType(imageType: string): Promise<number> {
    const r = await this.db
      .selectFrom('images')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('image_type', '=', imageType)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Listed images by state, every state present (0 where none). */
  async countByState(): Promise<Record<ImageState, number>> {
    const rows = await this.db
      .selectFrom('images')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('state')
      .execute();
    const counts = Object.fromEntries(IMAGE_STATES.map((s) => [s, 0])) as Record<ImageState, number>;
    for (const r of rows) counts[r.state as ImageState] = Number(r.n);
    return counts;
  }

  async digests(): Promise<Digest[]> {
    const rows = await this.db.selectFrom('images').select('digest').distinct().orderBy('digest').execute();
    return rows.map((r) => r.digest as Digest);
  }
}

export function toImage(row: Selectable<ImageTable>): ImageRecord {
  return {
    name: row.name,
    digest: row.digest as Digest,
    kind: row.kind,
    imageType: row.image_type,
    state: row.state as ImageState,
    parentName: row.parent_name,
    parentDigest: row.parent_digest as Digest | null,
    origin: row.origin,
    originKeyId: row.origin_key_id,
    size: Number(row.size),
    storedBytes: Number(row.stored_bytes),
    chunkCount: Number(row.chunk_count),
    fileCount: Number(row.file_count),
    signature: row.signature,
    createdAt: row.created_at,
    receivedFrom: row.received_from,
    private: Number(row.private) === 1,
    uploaded: Number(row.uploaded) === 1,
  };
}

function fromImage(i: ImageRecord): Insertable<ImageTable> {
  return {
    name: i.name,
    digest: i.digest,
    kind: i.kind,
    image_type: i.imageType,
    state: i.state,
    parent_name: i.parentName,
    parent_digest: i.parentDigest,
    origin: i.origin,
    origin_key_id: i.originKeyId,
    size: i.size,
    stored_bytes: i.storedBytes,
    chunk_count: i.chunkCount,
    file_count: i.fileCount,
    signature: i.signature,
    created_at: i.createdAt,
    received_from: i.receivedFrom,
    private: i.private ? 1 : 0,
    uploaded: i.uploaded ? 1 : 0,
  };
}

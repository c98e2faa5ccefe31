/** SQL for the publisher keys a server trusts to sign releases (migration 014). */
import type { Kysely, Selectable } from 'kysely';
import type { PublisherKeyTable, Schema } from '../db/schema.js';

export type PublisherKeyRow = Selectable<PublisherKeyTable>;

export class PublisherKeyRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  /** Throws the database's unique violation for a key id or a name already there. */
  async insert(row: PublisherKeyRow): Promise<void> {
    await this.db.insertInto('publisher_keys').values(row).execute();
  }

  list(): Promise<PublisherKeyRow[]> {
    return this.db.selectFrom('publisher_keys').selectAll().orderBy('name').execute();
  }

  /** The key named `name`, else the key whose id is `name`. */
  async find(name: string): Promise<PublisherKeyRow | undefined> {
    const rows = await this.db
      .selectFrom('publisher_keys')
      .selectAll()
      .where((eb) => eb.or([eb('name', '=', name), eb('key_id', '=', name)]))
      .execute();
    return rows.find((r) => r.name === name) ?? rows[0];
  }

  async remove(keyId: string): Promise<boolean> {
    const r = await this.db.deleteFrom('publisher_keys').where('key_id', '=', keyId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

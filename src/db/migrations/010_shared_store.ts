/**
 * The chunk index of a shared store (`ingot serve --store DIR` or `s3://...`): which
 * segment holds each chunk, for every node of the server at once. It lives in the catalog
 * because that is the one thing all nodes already share with transactions; a shared file
 * system or an object store gives neither safe locks nor atomic read-modify-write. The
 * local pack store keeps its own index and leaves these tables empty.
 */

import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function sharedStore(dialect: DialectName): Migration {
  const serial = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('store_segments')
        .addColumn('id', serial, (c) => c.primaryKey().notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('bytes', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('store_chunks')
        .addColumn('digest', 'text', (c) => c.primaryKey().notNull())
        .addColumn('segment', 'bigint', (c) => c.notNull())
        .addColumn('offset', 'bigint', (c) => c.notNull())
        .addColumn('length', 'integer', (c) => c.notNull())
        .addColumn('raw_length', 'integer', (c) => c.notNull())
        .addColumn('encoding', 'integer', (c) => c.notNull())
        .addColumn('touched_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('store_chunks_by_segment')
        .on('store_chunks')
        .columns(['segment'])
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('store_chunks').ifExists().execute();
      await db.schema.dropTable('store_segments').ifExists().execute();
    },
  };
}

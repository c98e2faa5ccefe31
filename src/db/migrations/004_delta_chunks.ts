/**
 * Delta chunks: a transfer records how many of the chunks it sent travelled as deltas
 * against a chunk the receiver held. Frozen once released, like 001.
 */
import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function deltaChunks(_dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('transfers')
        .addColumn('chunks_delta', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable('transfers').dropColumn('chunks_delta').execute();
    },
  };
}

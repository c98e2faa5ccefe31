/**
 * When a segment of the shared store was emptied by a rewrite (gc's compaction of partly
 * dead segments): such a segment is complete, so it may go once gc's grace period has
 * passed, instead of the hour a segment that may still be mid-write is kept. Expand only:
 * a node of the previous version ignores the column and keeps its hour.
 */

import type { Kysely, Migration } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function segmentRetirement(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('store_segments').addColumn('retired_at', 'bigint').execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable('store_segments').dropColumn('retired_at').execute();
    },
  };
}

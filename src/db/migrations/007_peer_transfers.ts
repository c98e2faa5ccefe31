/**
 * Transfers seen from the passive side: a row per push a peer makes here (in) and per pull
 * a peer makes from here (out), with the figures this server saw and how it ended. The
 * active side's record stays `transfers` (one row per job). Frozen once released, like 001.
 */

import type { Migration } from 'kysely';
import { type Kysely, sql } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function peerTransfers(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      const table = db.schema.createTable('peer_transfers');
      await (dialect === 'postgres'
        ? table.addColumn('id', 'bigserial', (c) => c.primaryKey())
        : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      )
        .addColumn('direction', 'text', (c) => c.notNull().check(sql`direction in ('in', 'out')`))
        .addColumn('peer_name', 'text', (c) => c.notNull())
        .addColumn('image_name', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) =>
          c.notNull().check(sql`state in ('running', 'done', 'failed', 'abandoned')`),
        )
        .addColumn('bytes_total', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_done', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_present', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('wire_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('chunks_total', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('chunks_sent', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('chunks_delta', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('outcome', 'text')
        .addColumn('error', 'text')
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      // The abandonment check: running rows by their last progress.
      await db.schema
        .createIndex('peer_transfers_state_idx')
        .on('peer_transfers')
        .columns(['state', 'updated_at'])
        .execute();
      await db.schema
        .createIndex('peer_transfers_peer_idx')
        .on('peer_transfers')
        .column('peer_name')
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('peer_transfers').ifExists().execute();
    },
  };
}

/**
 * Federation: peers registered from their server-data files, the instantiations peers
 * asked of this server, the client/target names that share the peers' namespace, and the
 * transfers that move images between servers. Images learn where a replica came from and
 * whether an image is private to this server. Frozen once released, like 001.
 */

import type { Migration } from 'kysely';
import { type Kysely, sql } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function federation(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('images').addColumn('received_from', 'text').execute();
      await db.schema
        .alterTable('images')
        .addColumn('private', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('images_received_from_idx').on('images').column('received_from').execute();

      await db.schema
        .createTable('peers')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('endpoint', 'text', (c) => c.notNull())
        .addColumn('cert_pem', 'text', (c) => c.notNull())
        .addColumn('cert_fingerprint', 'text', (c) => c.notNull().unique())
        .addColumn('signing_key_pem', 'text', (c) => c.notNull())
        .addColumn('max_rate', 'bigint')
        .addColumn('registered_at', 'text', (c) => c.notNull())
        .addColumn('last_contact_at', 'text')
        .execute();

      await db.schema
        .createTable('instantiations')
        .addColumn('peer_name', 'text', (c) => c.notNull().references('peers.name').onDelete('cascade'))
        .addColumn('filter_kind', 'text', (c) =>
          c.notNull().check(sql`filter_kind in ('all', 'image', 'series', 'imagetype')`),
        )
        .addColumn('filter_value', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('instantiations_pk', ['peer_name', 'filter_kind', 'filter_value', 'state'])
        .execute();

      await db.schema
        .createTable('hosts')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('client', 'target')`))
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('transfers')
        .addColumn('job_id', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.primaryKey())
        .addColumn('direction', 'text', (c) => c.notNull().check(sql`direction in ('push', 'pull')`))
        .addColumn('peer_name', 'text', (c) => c.notNull())
        .addColumn('image_name', 'text', (c) => c.notNull())
        .addColumn('digest', 'text')
        .addColumn('bytes_total', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_done', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_present', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('wire_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('chunks_total', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('chunks_sent', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('outcome', 'text')
        .addColumn('started_at', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('transfers_peer_idx').on('transfers').column('peer_name').execute();
    },
    async down(db: AnyDb) {
      for (const t of ['transfers', 'hosts', 'instantiations', 'peers']) {
        await db.schema.dropTable(t).ifExists().execute();
      }
      await db.schema.dropIndex('images_received_from_idx').ifExists().execute();
      await db.schema.alterTable('images').dropColumn('private').execute();
      await db.schema.alterTable('images').dropColumn('received_from').execute();
    },
  };
}

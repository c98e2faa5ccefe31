/**
 * The nodes of one server on a shared catalog (docs/design.md, "Many nodes"): a row per
 * `ingot serve` process with its addresses, version, state and last heartbeat; named
 * leases (the leader's) held by a node until their expiry; and the identity the catalog
 * belongs to, recorded by the first node, so a node with another cluster name or other
 * keys is refused. Expand-only: the previous release runs beside it and never reads them.
 */

import type { Migration } from 'kysely';
import { type Kysely, sql } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function nodes(_dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('nodes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('api_url', 'text', (c) => c.notNull())
        .addColumn('peer_url', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) =>
          c.notNull().check(sql`state in ('starting', 'serving', 'draining', 'stopped')`),
        )
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('heartbeat_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('server_leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('acquired_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('server_identity')
        .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
        .addColumn('cluster_name', 'text', (c) => c.notNull())
        .addColumn('signing_key_id', 'text', (c) => c.notNull())
        .addColumn('peer_cert_fingerprint', 'text', (c) => c.notNull())
        .addColumn('recorded_at', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: AnyDb) {
      for (const t of ['server_identity', 'server_leases', 'nodes']) {
        await db.schema.dropTable(t).ifExists().execute();
      }
    },
  };
}

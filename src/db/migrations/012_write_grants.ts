/**
 * The write grants of pushes in progress, kept where every node of the server reads them:
 * a pusher's offer is taken by one node and its chunks may reach another behind a balancer.
 * A row is the offer's manifest and the bases granted for deltas, dropped at the commit and
 * by the retention pass a day on. Expand-only: the previous release never reads it.
 */

import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function writeGrants(_dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('peer_write_grants')
        .addColumn('peer_name', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        // base64: the same text column on both dialects; roots are a few hundred bytes.
        .addColumn('manifest', 'text', (c) => c.notNull())
        .addColumn('bases', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('peer_write_grants_pk', ['peer_name', 'digest'])
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('peer_write_grants').ifExists().execute();
    },
  };
}

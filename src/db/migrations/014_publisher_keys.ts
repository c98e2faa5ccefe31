/**
 * Releases signed by their publisher (docs/design.md, "Rolling self-update"): the
 * publishers' Ed25519 public keys this server trusts, in the catalog so that every node
 * trusts the same ones, and on each release the key that signed it and the signature.
 * Expand only: a node of the previous version never reads the table, and its releases rows
 * leave the new columns null (unsigned), as it checked them.
 */

import type { Kysely, Migration } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

const RELEASE_COLUMNS = ['signer_key_id', 'signer_name', 'signature'] as const;

export function publisherKeys(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('publisher_keys')
        .addColumn('key_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('added_at', 'text', (c) => c.notNull())
        .execute();
      for (const column of RELEASE_COLUMNS) {
        await db.schema.alterTable('releases').addColumn(column, 'text').execute();
      }
    },
    async down(db: AnyDb) {
      for (const column of RELEASE_COLUMNS) {
        await db.schema.alterTable('releases').dropColumn(column).execute();
      }
      await db.schema.dropTable('publisher_keys').ifExists().execute();
    },
  };
}

/**
 * Access: named API tokens with a role (only a hash of each secret is kept) and the audit
 * record of every change made through the REST API. Frozen once released, like 001.
 */
import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function access(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('api_tokens')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('last_used_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();

      const audit = db.schema.createTable('audit');
      await (dialect === 'postgres'
        ? audit.addColumn('id', 'bigserial', (c) => c.primaryKey())
        : audit.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      )
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('token_name', 'text')
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('route', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('remote', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('code', 'text')
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('audit').ifExists().execute();
      await db.schema.dropTable('api_tokens').ifExists().execute();
    },
  };
}

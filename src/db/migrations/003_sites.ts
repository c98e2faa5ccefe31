/**
 * Sites: templates an upstream publishes in signed versions, the followings of a site
 * (which upstream template, how often, when, how fast), the receiver's record of the
 * instantiations it asked for (so unsolicited pushes can be told apart), uploads allowed
 * per peer, and images that arrived as uploads (changeable, unlike replicas). Frozen once
 * released, like 001.
 */
import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function sites(_dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('peers')
        .addColumn('allow_uploads', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('images')
        .addColumn('uploaded', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();

      await db.schema
        .createTable('templates')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        // Set for a template mirrored from the upstream it was synced from.
        .addColumn('upstream', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('template_members')
        .addColumn('template_name', 'text', (c) =>
          c.notNull().references('templates.name').onDelete('cascade'),
        )
        .addColumn('image_name', 'text', (c) => c.notNull().references('images.name').onDelete('cascade'))
        .addColumn('added_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('template_members_pk', ['template_name', 'image_name'])
        .execute();

      await db.schema
        .createTable('template_versions')
        .addColumn('template_name', 'text', (c) =>
          c.notNull().references('templates.name').onDelete('cascade'),
        )
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .addColumn('published_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('template_versions_pk', ['template_name', 'version'])
        .execute();

      await db.schema
        .createTable('followings')
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('template_name', 'text', (c) => c.notNull())
        .addColumn('every_seconds', 'integer', (c) => c.notNull())
        .addColumn('window', 'text')
        .addColumn('max_rate', 'bigint')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('next_run_at', 'text', (c) => c.notNull())
        .addColumn('last_run_at', 'text')
        .addColumn('last_success_at', 'text')
        .addColumn('last_version', 'integer')
        .addColumn('last_status', 'text')
        .addColumn('last_error', 'text')
        .addPrimaryKeyConstraint('followings_pk', ['upstream', 'template_name'])
        .execute();

      await db.schema
        .createTable('subscriptions')
        .addColumn('peer_name', 'text', (c) => c.notNull())
        .addColumn('filter', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('subscriptions_pk', ['peer_name', 'filter'])
        .execute();
    },
    async down(db: AnyDb) {
      for (const t of ['subscriptions', 'followings', 'template_versions', 'template_members', 'templates']) {
        await db.schema.dropTable(t).ifExists().execute();
      }
      await db.schema.alterTable('images').dropColumn('uploaded').execute();
      await db.schema.alterTable('peers').dropColumn('allow_uploads').execute();
    },
  };
}

/**
 * The first catalog schema. Migrations are frozen once released: change the schema with a
 * new numbered file, never by editing this one. Values are inlined (not imported) for that
 * reason too.
 */

import type { Migration } from 'kysely';
import { type CreateTableBuilder, type Kysely, sql } from 'kysely';
import type { DialectName } from '../schema.js';

const BUILTIN_TYPES: ReadonlyArray<readonly [string, string]> = [
  ['SOFTWARE', 'software homes (tree payload)'],
  ['OSIMAGE', 'operating system root file systems (tree payload)'],
  ['DISKIMAGE', 'raw or qcow2 disk images (file payload)'],
  ['ISO', 'ISO 9660 images (file payload)'],
  ['ARCHIVE', 'zip or tar archives (file payload)'],
];

// Migrations must not depend on today's Schema type, which describes the latest version.
// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function initial(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await createCatalog(db, dialect);
      await createJobs(db, dialect);
      const now = new Date().toISOString();
      await db
        .insertInto('image_types')
        .values(
          BUILTIN_TYPES.map(([name, description]) => ({
            name,
            base_type: name,
            description,
            builtin: 1,
            created_at: now,
          })),
        )
        .execute();
    },
    async down(db: AnyDb) {
      for (const t of ['jobs', 'working_copies', 'series_images', 'series', 'images', 'image_types']) {
        await db.schema.dropTable(t).ifExists().execute();
      }
    },
  };
}

async function createCatalog(db: AnyDb, dialect: DialectName): Promise<void> {
  await db.schema
    .createTable('image_types')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('base_type', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('builtin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('images')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('tree', 'file')`))
    .addColumn('image_type', 'text', (c) => c.notNull().references('image_types.name'))
    .addColumn('state', 'text', (c) => c.notNull())
    // SET NULL keeps descendants when a parent goes; parent_digest still records lineage.
    .addColumn('parent_name', 'text', (c) => c.references('images.name').onDelete('set null'))
    .addColumn('parent_digest', 'text')
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('stored_bytes', 'bigint', (c) => c.notNull())
    .addColumn('chunk_count', 'bigint', (c) => c.notNull())
    .addColumn('file_count', 'bigint', (c) => c.notNull())
    .addColumn('signature', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('images_digest_idx').on('images').column('digest').execute();
  await db.schema.createIndex('images_parent_name_idx').on('images').column('parent_name').execute();
  await db.schema.createIndex('images_image_type_idx').on('images').column('image_type').execute();

  await db.schema
    .createTable('series')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('series_images')
    .addColumn('series_name', 'text', (c) => c.notNull().references('series.name').onDelete('cascade'))
    .addColumn('image_name', 'text', (c) => c.notNull().references('images.name').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('added_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('series_images_pk', ['series_name', 'image_name'])
    .addUniqueConstraint('series_images_position_uq', ['series_name', 'position'])
    .execute();
  await db.schema.createIndex('series_images_image_idx').on('series_images').column('image_name').execute();

  await db.schema
    .createTable('working_copies')
    .$call((t) => withId(t, dialect))
    .addColumn('image_name', 'text', (c) => c.notNull().references('images.name').onDelete('cascade'))
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('working_copies_host_path_uq', ['host', 'path'])
    .execute();
  await db.schema.createIndex('working_copies_image_idx').on('working_copies').column('image_name').execute();
}

async function createJobs(db: AnyDb, dialect: DialectName): Promise<void> {
  await db.schema
    .createTable('jobs')
    .$call((t) => withId(t, dialect))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) =>
      c.notNull().check(sql`state in ('queued', 'running', 'succeeded', 'failed', 'cancelled')`),
    )
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('result', 'text')
    .addColumn('error', 'text')
    .addColumn('progress_done', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('progress_total', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'text')
    .addColumn('run_after', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // The claim query scans by state and due time; this keeps it an index range scan.
  await db.schema
    .createIndex('jobs_state_run_after_idx')
    .on('jobs')
    .columns(['state', 'run_after'])
    .execute();
  await db.schema.createIndex('jobs_kind_idx').on('jobs').column('kind').execute();
}

/** A generated integer key; the two engines spell it differently. */
function withId<T extends string>(t: CreateTableBuilder<T, never>, dialect: DialectName) {
  return dialect === 'postgres'
    ? t.addColumn('id', 'bigserial', (c) => c.primaryKey())
    : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

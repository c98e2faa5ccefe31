/**
 * The rolling self-update (docs/design.md, "Rolling self-update"): the releases this server
 * keeps (an npm tarball of Ingot, its chunks in the chunk store like an image's), a plan row
 * per roll and a step row per node, so that whichever node leads drives the roll from the
 * rows and a new leader resumes it. Expand-only: the previous release runs beside it during
 * a roll and never reads these tables.
 */

import type { Kysely, Migration } from 'kysely';
import { sql } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function updates(dialect: DialectName): Migration {
  const serial = dialect === 'postgres' ? 'serial' : 'integer';
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('releases')
        .addColumn('version', 'text', (c) => c.primaryKey())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('chunks', 'text', (c) => c.notNull())
        .addColumn('dependencies', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('added_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('update_plans')
        .addColumn('id', serial, (c) => c.primaryKey().notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('leader', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('running', 'done', 'failed')`))
        .addColumn('drain_ms', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text')
        .execute();
      // One roll at a time, whichever node is asked: the second insert of a running plan fails.
      await db.schema
        .createIndex('update_plans_one_running')
        .on('update_plans')
        .column('state')
        .unique()
        .where(sql.ref('state'), '=', sql.lit('running'))
        .execute();
      await db.schema
        .createTable('update_steps')
        .addColumn('plan_id', 'integer', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('from_version', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) =>
          c.notNull().check(sql`state in ('pending', 'draining', 'install', 'restarting', 'done', 'failed')`),
        )
        .addColumn('error', 'text')
        .addColumn('started_at', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text')
        .addPrimaryKeyConstraint('update_steps_pk', ['plan_id', 'seq'])
        .execute();
    },
    async down(db: AnyDb) {
      for (const t of ['update_steps', 'update_plans', 'releases']) {
        await db.schema.dropTable(t).ifExists().execute();
      }
    },
  };
}

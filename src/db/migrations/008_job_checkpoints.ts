/**
 * Checkpoints of long jobs: what a job has durably done so far, appended as it goes, so a
 * job claimed again (a killed server, a dropped connection) resumes from its last one.
 * An URL import appends one per stored stretch of the download: the offset it reached, the
 * chunk references of that stretch and the source's validator (ETag, Last-Modified).
 */

import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

export function jobCheckpoints(_dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('job_checkpoints')
        .addColumn('job_id', 'bigint', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('done', 'bigint', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('job_checkpoints_pk', ['job_id', 'seq'])
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('job_checkpoints').ifExists().execute();
    },
  };
}

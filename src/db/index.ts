/**
 * db: the Kysely database over SQLite or PostgreSQL, its schema and its migrations.
 * May import core only. Queries live with their owners (catalog, jobs), not here.
 */
export { type Db, type OpenDatabaseOptions, openDatabase } from './database.js';
export { isForeignKeyViolation, isUniqueViolation } from './db-errors.js';
export type { DialectName, JobState, Schema } from './schema.js';

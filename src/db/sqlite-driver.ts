/**
 * SQLite through Node's built-in `node:sqlite`, shaped for Kysely's SQLite dialect (which
 * was written against better-sqlite3's handle): no native addon to build at install time.
 * The two differ in three small ways that matter here: statements are spread-argument
 * calls, a statement is a reader when it returns columns, and errors carry SQLite's
 * numeric result code (`errcode`) rather than its symbolic name.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { diskFullError, isDiskFull } from '../core/disk-full.js';

/** SQLite's primary result codes we act on (https://sqlite.org/rescode.html). */
const SQLITE_BUSY = 5;
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

export interface SqliteOpenOptions {
  /** busy_timeout in ms: how long a statement waits on another connection's lock. */
  busyTimeoutMs: number;
}

/** Opens a file (its directory made if missing) in WAL mode with foreign keys on. */
export function openSqlite(path: string, opts: SqliteOpenOptions): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA foreign_keys = ON');
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(opts.busyTimeoutMs)}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Prepared statements kept per connection, least recently used dropped first. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every query it runs; preparing was two thirds of a small query's cost
 * (~100 µs a primary-key lookup, ~30 µs with its statement kept), so statements are kept
 * by their text and used again (each call binds its own parameters). A stream (`iterate`)
 * gets a statement of its own, so no later use of a kept one can reset it under the reader.
 */
export function kyselySqlite(db: DatabaseSync, path = 'the catalog database'): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare: (text) => {
      const held = cache.get(text);
      if (held) {
        cache.delete(text);
        cache.set(text, held);
        return held;
      }
      const made = statement(db.prepare(text), path, () => db.prepare(text));
      cache.set(text, made);
      if (cache.size > STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      return made;
    },
  };
}

function statement(s: StatementSync, path: string, fresh: () => StatementSync): SqliteStatement {
  const args = (p: ReadonlyArray<unknown>) => p as SQLInputValue[];
  // SQLITE_FULL says so, naming the database file (the free space is not looked up here:
  // statements run synchronously).
  const full = <T>(run: () => T): T => {
    try {
      return run();
    } catch (err) {
      throw isDiskFull(err) ? diskFullError(path, undefined, undefined, err) : err;
    }
  };
  return {
    reader: s.columns().length > 0,
    all: (p) => full(() => s.all(...args(p))),
    run: (p) => full(() => s.run(...args(p))),
    iterate: (p) => fresh().iterate(...args(p)),
  };
}

function errcode(err: unknown): number | undefined {
  const c = err && typeof err === 'object' ? (err as { errcode?: unknown }).errcode : undefined;
  return typeof c === 'number' ? c : undefined;
}

/** SQLITE_BUSY or one of its extended codes: another connection holds the lock. */
export function isSqliteBusy(err: unknown): boolean {
  const c = errcode(err);
  return c !== undefined && (c & 0xff) === SQLITE_BUSY;
}

export function isSqliteUniqueViolation(err: unknown): boolean {
  const c = errcode(err);
  return c === SQLITE_CONSTRAINT_UNIQUE || c === SQLITE_CONSTRAINT_PRIMARYKEY;
}

export function isSqliteForeignKeyViolation(err: unknown): boolean {
  return errcode(err) === SQLITE_CONSTRAINT_FOREIGNKEY;
}

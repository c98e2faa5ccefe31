/**
 * Opens the catalog database (SQLite file or PostgreSQL) and brings its schema up to date.
 * This is the only module that knows which driver sits under Kysely; everything above it
 * sees a `Db` and writes portable queries.
 */
import { type Dialect, Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { IngotError } from '../core/errors.js';
import { migrationProvider } from './migrations/index.js';
import type { DialectName, Schema } from './schema.js';
import { kyselySqlite, openSqlite } from './sqlite-driver.js';
import { makeTransaction, SQLITE_BUSY_TIMEOUT_MS } from './transaction.js';

export interface Db {
  readonly kysely: Kysely<Schema>;
  readonly dialect: DialectName;
  /**
   * Runs `fn` in one transaction (a write transaction from the start on SQLite, so two
   * processes on one file serialise instead of failing to upgrade a read lock). Inside `fn`
   * use only `tx`: on SQLite the one connection is held, so `kysely` would wait forever.
   */
  transaction<T>(fn: (tx: Kysely<Schema>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** `sqlite:/abs/file.sqlite`, a plain file path, or `postgres://user@host:port/db`. */
  url: string;
  /** PostgreSQL pool size. */
  maxConnections?: number;
}

type Target = { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; url: string };

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Db> {
  const target = parseUrl(opts.url);
  const kysely = new Kysely<Schema>({
    dialect:
      target.dialect === 'sqlite' ? sqliteDialect(opts.url, target.path) : postgresDialect(target.url, opts),
  });
  try {
    await sql`select 1`.execute(kysely).catch((err: unknown) => {
      throw unavailable(opts.url, err);
    });
    await migrate(kysely, target.dialect);
  } catch (err) {
    await kysely.destroy().catch(() => {});
    throw err;
  }
  return {
    kysely,
    dialect: target.dialect,
    transaction: makeTransaction(kysely, target.dialect),
    close: () => kysely.destroy(),
  };
}

export function parseUrl(url: string): Target {
  if (/^postgres(ql)?:\/\//.test(url)) return { dialect: 'postgres', url };
  if (url.startsWith('sqlite:')) {
    // Accept sqlite:/abs, sqlite:///abs and sqlite::memory:.
    const rest = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (rest) return { dialect: 'sqlite', path: rest };
  } else if (url && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    return { dialect: 'sqlite', path: url };
  }
  throw new IngotError('UNAVAILABLE', `unsupported database URL ${JSON.stringify(redact(url))}`, {
    hint: 'use sqlite:/absolute/path/ingot.sqlite or postgres://user@host:5432/dbname',
  });
}

/** Opened here, not lazily by Kysely, so a bad path fails now with a clear error. */
function sqliteDialect(url: string, path: string): Dialect {
  try {
    return new SqliteDialect({
      database: kyselySqlite(openSqlite(path, { busyTimeoutMs: SQLITE_BUSY_TIMEOUT_MS }), path),
    });
  } catch (err) {
    throw unavailable(url, err);
  }
}

function postgresDialect(url: string, opts: OpenDatabaseOptions): Dialect {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxConnections ?? 10,
    connectionTimeoutMillis: 10_000,
    // Sizes are int8; we keep them below 2^53, so numbers are exact and easier than strings.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === pg.types.builtins.INT8
          ? (v: string) => Number(v)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client whose server went away must not crash the process; the next query reports it.
  pool.on('error', () => {});
  return new PostgresDialect({ pool });
}

async function migrate(kysely: Kysely<Schema>, dialect: DialectName): Promise<void> {
  const migrator = new Migrator({ db: kysely, provider: migrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new IngotError('INTERNAL', `database migration ${failed ?? ''} failed: ${String(error)}`, {
      cause: error,
    });
  }
}

function unavailable(url: string, err: unknown): IngotError {
  const reason = err instanceof Error ? err.message : String(err);
  return new IngotError('UNAVAILABLE', `cannot open database ${redact(url)}: ${reason}`, {
    hint: url.startsWith('postgres')
      ? 'check that PostgreSQL is running, the database exists and the URL (host, port, user) is right'
      : 'check that the directory exists and is writable by this user',
    cause: err,
  });
}

/** Never echo a password from a URL into a message or a log. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

import { type Kysely, sql } from 'kysely';
import type { DialectName, Schema } from './schema.js';
import { isSqliteBusy } from './sqlite-driver.js';

export type TransactionFn = <T>(fn: (tx: Kysely<Schema>) => Promise<T>) => Promise<T>;

/** How long a SQLite transaction waits for another writer before giving up (SQLITE_BUSY). */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

export function makeTransaction(kysely: Kysely<Schema>, dialect: DialectName): TransactionFn {
  return dialect === 'postgres'
    ? (fn) => kysely.transaction().execute(fn)
    : (fn) => sqliteImmediate(kysely, fn);
}

/**
 * Kysely begins SQLite transactions DEFERRED: a reader that later writes must upgrade its
 * lock, and if another process writes meanwhile SQLite fails at once (busy_timeout does not
 * apply to a deadlock). BEGIN IMMEDIATE takes the write lock up front.
 */
function sqliteImmediate<T>(kysely: Kysely<Schema>, fn: (tx: Kysely<Schema>) => Promise<T>): Promise<T> {
  return kysely.connection().execute(async (conn) => {
    await beginImmediate(conn);
    try {
      const result = await fn(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => {});
      throw err;
    }
  });
}

/**
 * node:sqlite is synchronous, so its busy_timeout blocks the whole event loop: a second
 * handle in the same process would wait on a lock the first can never release while the
 * thread sleeps. So for BEGIN we wait asynchronously instead, which serves other processes
 * and other handles in this one alike.
 */
async function beginImmediate(conn: Kysely<Schema>): Promise<void> {
  const deadline = Date.now() + SQLITE_BUSY_TIMEOUT_MS;
  await sql`pragma busy_timeout = 0`.execute(conn);
  try {
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      try {
        await sql`begin immediate`.execute(conn);
        return;
      } catch (err) {
        if (!isSqliteBusy(err) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random())));
      }
    }
  } finally {
    await sql.raw(`pragma busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`).execute(conn);
  }
}

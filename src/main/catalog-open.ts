/**
 * The catalog a server opens. A SQLite file is one process's: two `ingot serve` on it would
 * each lead (the lease is PostgreSQL's) and each keep its own store under one catalog. So
 * serving on SQLite holds a lock beside the file for as long as the catalog is open, the
 * same kernel lock the pack store holds, gone with the process however it ends.
 */
import { type Db, openDatabase, parseUrl } from '../db/database.js';
import { acquireStoreLock } from '../store/pack-lock.js';

export async function openCatalog(url: string): Promise<Db> {
  const target = parseUrl(url);
  if (target.dialect !== 'sqlite' || target.path === ':memory:') return openDatabase({ url });
  const unlock = await acquireStoreLock(`${target.path}.serve-lock`, {
    what: `the SQLite catalog ${target.path}`,
    hint: 'another ingot serve runs on it: stop that one first; several nodes of one server need PostgreSQL (--db postgres://...)',
  });
  try {
    const db = await openDatabase({ url });
    return {
      ...db,
      async close() {
        await db.close();
        await unlock();
      },
    };
  } catch (err) {
    await unlock();
    throw err;
  }
}

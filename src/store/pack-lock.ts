import { open } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { IngotError } from '../core/errors.js';

/**
 * Exclusion for the pack store: a lock the kernel holds for the process that has the store
 * open, so that two processes never append to the same pack, and an async mutex that
 * serialises appends within one process.
 *
 * Why a SQLite database: the lock must go away with the process however it ends (kill -9,
 * a crash, a power cut) and must not outlive it as a pid that still looks alive (a zombie
 * not yet reaped keeps its pid, and a pid can be reused). Node has no flock(2), but
 * node:sqlite takes POSIX fcntl locks on its database file, and the kernel drops those when
 * the process's files are closed at exit, before it turns zombie. In locking_mode=EXCLUSIVE
 * the first write transaction's lock is kept until the connection closes. The holder writes
 * its pid into the database header's user_version (offset 60, big-endian u32), which a
 * refused opener reads with a plain read, since fcntl locks do not stop reads.
 */

/** SQLite file format: the header's user_version field. */
const USER_VERSION_OFFSET = 60;

/** What a refused opener is told: the thing locked, and what to do. */
export interface LockWords {
  readonly what: string;
  readonly hint: string;
}

const STORE_WORDS: LockWords = {
  what: 'the chunk store',
  hint: 'stop that process first; the lock goes away when it exits, however it exits',
};

/** Takes the lock database at `path`, or throws CONFLICT while another process (or this one) holds it. */
export async function acquireStoreLock(
  path: string,
  words: LockWords = STORE_WORDS,
): Promise<() => Promise<void>> {
  const db = new DatabaseSync(path, { timeout: 0 });
  try {
    db.exec('PRAGMA locking_mode=EXCLUSIVE');
    db.exec('PRAGMA journal_mode=DELETE');
    db.exec(`BEGIN IMMEDIATE; PRAGMA user_version=${process.pid}; COMMIT`);
  } catch (err) {
    db.close();
    if (!isBusy(err)) throw err;
    const pid = await holderPid(path);
    throw new IngotError('CONFLICT', `${words.what} is in use by process ${pid ?? '(unknown)'}`, {
      hint: words.hint,
      details: { ...(pid === undefined ? {} : { pid }), lock: path },
    });
  }
  return async () => {
    if (db.isOpen) db.close();
  };
}

function isBusy(err: unknown): boolean {
  const e = err as { errcode?: number; message?: string };
  return (e.errcode !== undefined && (e.errcode & 0xff) === 5) || /database is locked/.test(e.message ?? '');
}

async function holderPid(path: string): Promise<number | undefined> {
  const file = await open(path, 'r').catch(() => undefined);
  if (!file) return undefined;
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await file.read(buf, 0, 4, USER_VERSION_OFFSET);
    const pid = bytesRead === 4 ? buf.readUInt32BE(0) : 0;
    return pid > 0 ? pid : undefined;
  } finally {
    await file.close();
  }
}

/** A FIFO async mutex. */
export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => {
      release = r;
    });
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

import { IngotError } from './errors.js';

/**
 * A full file system or database, recognised and said as such: DISK_FULL naming the path
 * and the bytes a write needed, wherever ENOSPC (or a quota, SQLite's SQLITE_FULL,
 * PostgreSQL's disk_full) comes from. Pure: store/disk-space.ts adds the statfs look-ups.
 */

export const DISK_FULL_HINT =
  'free space on that file system (`ingot gc` reclaims unreferenced chunks), or give the server more';

/** SQLite's primary result code for "database or disk is full". */
const SQLITE_FULL = 13;

/** Whether `err` (or an error it wraps) says a file system or a database ran out of space. */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const x = e as { code?: unknown; errcode?: unknown; cause?: unknown };
    if (x.code === 'ENOSPC' || x.code === 'EDQUOT' || x.code === '53100') return true;
    if (typeof x.errcode === 'number' && (x.errcode & 0xff) === SQLITE_FULL) return true;
    e = x.cause;
  }
  return false;
}

/** DISK_FULL for a write of `needed` bytes (when known) to `path`, `free` bytes (when known) left. */
export function diskFullError(
  path: string,
  needed: number | undefined,
  free: number | undefined,
  cause?: unknown,
): IngotError {
  const what = needed === undefined ? 'a write' : `${needed} bytes`;
  const left = free === undefined ? '' : `; ${free} bytes are free`;
  return new IngotError('DISK_FULL', `no space left for ${what} at ${path}${left}`, {
    hint: DISK_FULL_HINT,
    details: { path, ...(needed === undefined ? {} : { needed }), ...(free === undefined ? {} : { free }) },
    cause,
  });
}

/** A disk-full failure that reached the outer ring without a path (a catalog write, say). */
export function diskFullWithoutPath(err: unknown): IngotError | undefined {
  if (err instanceof IngotError || !isDiskFull(err)) return undefined;
  const e = err as { message?: string; path?: string };
  const where = e.path ? ` at ${e.path}` : '';
  return new IngotError('DISK_FULL', `no space left${where}: ${e.message ?? String(err)}`, {
    hint: 'free space on the file system of the store or the catalog database, or give the server more',
    ...(e.path ? { details: { path: e.path } } : {}),
    cause: err,
  });
}

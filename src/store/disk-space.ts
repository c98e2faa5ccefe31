import { statfs } from 'node:fs/promises';
import { DISK_FULL_HINT, diskFullError, isDiskFull } from '../core/disk-full.js';
import { IngotError } from '../core/errors.js';

/**
 * Free space on the file systems Ingot writes: DISK_FULL with the free bytes looked up
 * (core/disk-full.ts recognises a full disk), and the check that refuses a write before
 * its first byte when the bytes will not fit.
 */

/** Bytes an unprivileged process may still write on the file system holding `path`. */
export async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const s = await statfs(path);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** diskFullError with the free space looked up. */
export async function diskFull(
  path: string,
  needed: number | undefined,
  cause?: unknown,
): Promise<IngotError> {
  return diskFullError(path, needed, await freeBytes(path), cause);
}

/** `err` as DISK_FULL when it is one (see diskFull), else undefined. */
export async function diskFullOf(
  err: unknown,
  path: string,
  needed?: number,
): Promise<IngotError | undefined> {
  if (err instanceof IngotError || !isDiskFull(err)) return undefined;
  return diskFull(path, needed, err);
}

/**
 * Refuses, before anything is written, work that will write `needed` bytes where fewer are
 * free (`what` says which work). A file system that cannot say passes.
 */
export async function requireFreeSpace(path: string, needed: number, what: string): Promise<void> {
  const free = await freeBytes(path);
  if (free === undefined || free >= needed) return;
  throw new IngotError('DISK_FULL', `${what} needs ${needed} bytes at ${path}; ${free} bytes are free`, {
    hint: DISK_FULL_HINT,
    details: { path, needed, free },
  });
}

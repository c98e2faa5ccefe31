import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { IngotError } from '../core/errors.js';
import { diskFullOf } from './disk-space.js';
import { encodePackHeader, fsyncDir, PACK_HEADER_SIZE } from './pack-file.js';

/**
 * The pack files' own I/O for the writer (pack-writer.ts): writes cut into slices, a new
 * pack file made durable with its directory, a finished file taken in under a new id, and
 * what a failed write is reported as. No index, no lock: the writer holds both.
 */

/** Writes are cut into slices of about this size (and at most 1024 buffers). */
const SLICE_BYTES = 2 * 2 ** 20;

/** Writes `buffers` back to back from `pos`; the position after them. */
export async function writeSlices(fh: FileHandle, buffers: readonly Buffer[], pos: number): Promise<number> {
  for (let i = 0; i < buffers.length; ) {
    const slice: Buffer[] = [];
    let n = 0;
    while (i < buffers.length && n < SLICE_BYTES && slice.length < 1024) {
      const b = buffers[i++] as Buffer;
      slice.push(b);
      n += b.length;
    }
    const { bytesWritten } = await fh.writev(slice, pos);
    if (bytesWritten !== n) throw new Error(`short write: ${bytesWritten} of ${n} bytes`);
    pos += n;
  }
  return pos;
}

/** A new pack file with its header, fdatasynced with its directory; removed again on failure. */
export async function createPackFile(path: string, dir: string, id: number): Promise<FileHandle> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'wx');
    await fh.write(encodePackHeader(id), 0, PACK_HEADER_SIZE, 0);
    await fh.datasync();
    await fsyncDir(dir);
    return fh;
  } catch (cause) {
    await fh?.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw new IngotError('INTERNAL', `could not create pack ${id}`, { cause });
  }
}

/** A complete pack file written elsewhere on this file system, given header id `id` and moved to `path`. */
export async function takePackFile(file: string, path: string, dir: string, id: number): Promise<void> {
  try {
    const fh = await open(file, 'r+');
    try {
      await fh.write(encodePackHeader(id), 0, PACK_HEADER_SIZE, 0);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(file, path);
    await fsyncDir(dir);
  } catch (cause) {
    throw new IngotError('INTERNAL', `could not take ${file} as pack ${id}`, { cause });
  }
}

/** A failed write to a pack: DISK_FULL where the disk is (with what was left to write), else INTERNAL. */
export async function writeFailure(
  cause: unknown,
  path: string,
  id: number,
  left?: number,
): Promise<IngotError> {
  return (
    (await diskFullOf(cause, path, left)) ??
    new IngotError('INTERNAL', `could not write to pack ${id}`, { cause })
  );
}

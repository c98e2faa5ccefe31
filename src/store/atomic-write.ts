import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { diskFullOf } from './disk-space.js';

/**
 * Writes `parts` to `dest` so that readers see either nothing or the whole file: a temp
 * file in `tmpDir` (same file system as `dest`, so rename is atomic), write, fsync, rename.
 * The temp file is removed on any failure.
 *
 * The directory holding `dest` is not fsynced: a crash may then lose the rename, which
 * loses an object but never exposes a partial one. A lost chunk is found by `missing()`
 * and fetched again by the next transfer, and on ext4/xfs the rename is journalled before
 * any later fsync (such as the catalog's commit) returns. An fsync per directory per object
 * would roughly double the cost of small writes.
 */
export async function writeFileAtomic(
  dest: string,
  tmpDir: string,
  parts: readonly Uint8Array[],
  ensureDir: (dir: string) => Promise<void> = mkdirP,
): Promise<void> {
  const tmp = join(tmpDir, `${basename(dest)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    try {
      await writeAll(fh, parts);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await ensureDir(dirname(dest));
    await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw (
      (await diskFullOf(
        err,
        dest,
        parts.reduce((n, p) => n + p.length, 0),
      )) ?? err
    );
  }
}

/** writev may write less than asked (it does not loop); finish with plain writes. */
async function writeAll(fh: FileHandle, parts: readonly Uint8Array[]): Promise<void> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  let done = (await fh.writev(parts as Uint8Array[])).bytesWritten;
  if (done === total) return;
  const rest = Buffer.concat(parts as Uint8Array[]).subarray(done);
  for (let off = 0; off < rest.length; ) {
    const { bytesWritten } = await fh.write(rest, off, rest.length - off, done);
    off += bytesWritten;
    done += bytesWritten;
  }
}

async function mkdirP(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

/**
 * Deletes what writes a crash interrupted left in `tmpDir` (a killed bundle import's
 * staging store among them). Call only while no write can be in flight (at server start,
 * holding the store's lock); on a directory other nodes write, only with `olderThanMs`
 * above the longest write.
 */
export async function removeTempFiles(tmpDir: string, opts: { olderThanMs?: number } = {}): Promise<number> {
  const all = await readdir(tmpDir).catch(() => [] as string[]);
  const names =
    opts.olderThanMs === undefined ? all : await olderThan(tmpDir, all, Date.now() - opts.olderThanMs);
  await Promise.all(names.map((n) => rm(join(tmpDir, n), { recursive: true, force: true })));
  return names.length;
}

async function olderThan(dir: string, names: readonly string[], cutoffMs: number): Promise<string[]> {
  const times = await Promise.all(
    names.map((n) =>
      stat(join(dir, n)).then(
        (s) => s.mtimeMs,
        () => cutoffMs,
      ),
    ),
  );
  return names.filter((_, i) => (times[i] as number) < cutoffMs);
}

import type { FileHandle } from 'node:fs/promises';
import { unlink } from 'node:fs/promises';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { fsyncDir, recordSize } from './pack-file.js';
import type { PackHandles } from './pack-handles.js';
import type { ChunkRow, PackIndex } from './pack-index.js';
import { readVerified } from './pack-verify.js';
import type { PackWriter } from './pack-writer.js';
import type { StorePaths } from './paths.js';

/**
 * Compaction: sealed packs whose live bytes fell below a ratio of their size (after
 * deletes) are rewritten. Their live records are read in offset order, verified, copied
 * into the open pack in batches (one fdatasync each), their rows moved durably; then the
 * old pack's row is dropped and the file unlinked. A damaged record is not copied: its
 * row is dropped, so the chunk reads as absent (and is fetched again) instead of CORRUPT.
 *
 * Reads carry on: one that looked up a row before it moved and opens the pack after the
 * unlink gets ENOENT and looks again; one that already had the pack open keeps reading
 * the unlinked file through its handle.
 */

/** Live records are copied in batches of about this many bytes (one fdatasync each). */
const COPY_BATCH_BYTES = 32 * 2 ** 20;
const ROWS_PER_QUERY = 256;

export interface CompactResult {
  readonly packsRewritten: number;
  readonly bytesCopied: number;
  /** Size of the pack files removed (the store shrank by bytesFreed - bytesCopied). */
  readonly bytesFreed: number;
  /** Chunks found damaged while copying; their rows were dropped (they read as absent). */
  readonly corrupt: readonly Digest[];
}

export interface CompactionDeps {
  readonly paths: StorePaths;
  readonly index: PackIndex;
  readonly writer: PackWriter;
  readonly handles: PackHandles;
  /** Packs unlinked here; reads drop a handle they opened on one. */
  readonly retired: Set<number>;
}

export async function compactPacks(deps: CompactionDeps, maxLiveRatio: number): Promise<CompactResult> {
  const { index, writer, handles, paths } = deps;
  const r = { packsRewritten: 0, bytesCopied: 0, bytesFreed: 0, corrupt: [] as Digest[] };
  for (const p of index.packs()) {
    if (!p.sealed || p.liveBytes >= maxLiveRatio * p.size) continue;
    await handles.with(p.id, (fh) => copyLive(deps, p.id, fh, r));
    await writer.exclusive(async () => {
      if (index.hasRowsInPack(p.id)) return;
      index.dropPack(p.id);
      deps.retired.add(p.id);
      handles.evict(p.id);
      await unlink(paths.pack(p.id));
      await fsyncDir(paths.packsDir);
      r.packsRewritten++;
      r.bytesFreed += p.size;
    });
  }
  return r;
}

async function copyLive(
  { index, writer }: CompactionDeps,
  id: number,
  fh: FileHandle,
  r: { bytesCopied: number; corrupt: Digest[] },
): Promise<void> {
  let from = 0;
  let batch: { row: ChunkRow; payload: Buffer }[] = [];
  let bytes = 0;
  for (;;) {
    const rows = index.rowsInPack(id, from, ROWS_PER_QUERY);
    if (rows.length === 0) break;
    for (const row of rows) {
      from = row.offset + 1;
      const digest = row.digest.toString('hex') as Digest;
      const payload = await readVerified(fh, digest, row).then(
        (c) => c.payload,
        (err: unknown) => {
          if (err instanceof IngotError && err.code === 'CORRUPT') return undefined;
          throw err;
        },
      );
      if (!payload) {
        index.deleteAt(row.digest, id, row.offset, row.length);
        r.corrupt.push(digest);
        continue;
      }
      batch.push({ row, payload });
      bytes += recordSize(row.length);
      if (bytes >= COPY_BATCH_BYTES) {
        r.bytesCopied += await writer.copy(id, batch);
        batch = [];
        bytes = 0;
      }
    }
  }
  if (batch.length > 0) r.bytesCopied += await writer.copy(id, batch);
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Clock } from '../../src/core/clock.js';
import { openDatabase } from '../../src/db/database.js';
import { DirectorySegments } from '../../src/store/directory-segments.js';
import type { SegmentBlobs } from '../../src/store/segment-blobs.js';
import { SegmentChunkStore } from '../../src/store/segment-chunk-store.js';
import type { SegmentTables } from '../../src/store/segment-index.js';

/** A shared-directory store on the catalog at `dbUrl`, as one node opens it (tests only). */
export async function openSharedStore(
  root: string,
  dbUrl: string,
  opts: {
    node?: string;
    clock?: Clock;
    touchResolutionMs?: number;
    rewriteBytesPerRun?: number;
    /** Stands between the store and its segments (a test that acts mid-read or mid-write). */
    wrap?: (blobs: SegmentBlobs) => SegmentBlobs;
  } = {},
): Promise<{ store: SegmentChunkStore; close(): Promise<void> }> {
  const db = await openDatabase({ url: dbUrl });
  const dir = await DirectorySegments.open(root);
  const blobs = opts.wrap ? opts.wrap(dir) : dir;
  const store = await SegmentChunkStore.open(blobs, db.kysely as unknown as Kysely<SegmentTables>, opts);
  return {
    store,
    close: async () => {
      await store.close();
      await db.close();
    },
  };
}

export function tempSharedRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ingot-shared-'));
}

export async function removeRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

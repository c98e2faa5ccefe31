import { chunkLengths } from '../core/chunk-lengths.js';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';
import type { ChunkStore } from '../store/chunk-store.js';

const QUERY_BATCH = 4096;

/**
 * The last check before an image is listed, whether made here or received from a peer:
 * every chunk the manifest names is stored, with the length the manifest gives it.
 * Returns the bytes those chunks take in the store.
 */
export async function requireChunks(store: ChunkStore, chunks: readonly ChunkRef[]): Promise<number> {
  const lengths = chunkLengths(chunks);
  const all = [...lengths.keys()];
  let missing = 0;
  const sample: Digest[] = [];
  for (let i = 0; i < all.length; i += QUERY_BATCH) {
    const absent = await store.missing(all.slice(i, i + QUERY_BATCH));
    missing += absent.length;
    sample.push(...absent.slice(0, 10 - sample.length));
  }
  if (missing > 0) {
    throw new IngotError(
      'MISSING_CHUNKS',
      `the manifest names ${missing} chunk(s) the server does not hold`,
      {
        details: { missing: sample },
        hint: 'upload them first (`ingot image add` does this); nothing was listed',
      },
    );
  }
  let stored = 0;
  for (const d of all) {
    const info = await store.stat(d);
    if (info?.rawLength !== undefined && info.rawLength !== lengths.get(d)) {
      throw new IngotError(
        'INVALID_MANIFEST',
        `the manifest gives chunk ${d} a length of ${lengths.get(d)}`,
        {
          details: { digest: d, stored: info.rawLength, claimed: lengths.get(d) },
        },
      );
    }
    stored += info?.storedBytes ?? 0;
  }
  return stored;
}

import { DigestTable } from '../core/digest-table.js';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';
import type { ChunkStore } from '../store/chunk-store.js';

const QUERY_BATCH = 4096;

/**
 * The last check before an image is listed, whether made here or received from a peer:
 * every chunk the manifest names is stored, with the length the manifest gives it. The
 * list may come part by part (a version 2 chunk list); each chunk is checked once.
 * Returns the bytes those chunks take in the store.
 */
export async function requireChunks(
  store: ChunkStore,
  chunks: readonly ChunkRef[] | AsyncIterable<readonly ChunkRef[]>,
): Promise<number> {
  const seen = new DigestTable();
  let missing = 0;
  let stored = 0;
  const sample: Digest[] = [];
  const check = async (batch: Digest[]) => {
    const absent = await store.missing(batch);
    missing += absent.length;
    sample.push(...absent.slice(0, 10 - sample.length));
    if (absent.length > 0) return;
    const infos = await store.statMany(batch);
    for (const [i, d] of batch.entries()) {
      const info = infos[i];
      const claimed = seen.lengthOf(d);
      if (info?.rawLength !== undefined && info.rawLength !== claimed) {
        throw new IngotError('INVALID_MANIFEST', `the manifest gives chunk ${d} a length of ${claimed}`, {
          details: { digest: d, stored: info.rawLength, claimed },
        });
      }
      stored += info?.storedBytes ?? 0;
    }
  };
  let batch: Digest[] = [];
  for await (const refs of Symbol.asyncIterator in chunks ? chunks : [chunks as readonly ChunkRef[]]) {
    for (const c of refs) {
      if (c.kind !== 'data' || !seen.add(c.digest, c.length)) continue;
      batch.push(c.digest);
      if (batch.length === QUERY_BATCH) {
        await check(batch);
        batch = [];
      }
    }
  }
  if (batch.length > 0) await check(batch);
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
  return stored;
}

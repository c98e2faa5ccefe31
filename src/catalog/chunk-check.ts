import { DigestTable } from '../core/digest-table.js';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';
import type { ChunkStore } from '../store/chunk-store.js';

const QUERY_BATCH = 4096;

/**
 * The last check before an image is listed, whether made here or received from a peer:
 * every chunk the manifest names is stored, with the length the manifest gives it. The
 * list may come part by part (a version 2 chunk list); each chunk is checked once.
 * Returns how many distinct data chunks that is (holes and repeats in the list are not
 * chunks of the store) and the bytes they take in the store: the figures `image show` gives.
 */
export async function requireChunks(
  store: ChunkStore,
  chunks: readonly ChunkRef[] | AsyncIterable<readonly ChunkRef[]>,
): Promise<{ readonly chunks: number; readonly storedBytes: number }> {
  const seen = new DigestTable();
  let missing = 0;
  let stored = 0;
  const sample: Digest[] = [];
  const check = async (batch: Digest[], lengths: number[]) => {
    const t = await store.tally(batch, lengths);
    stored += t.storedBytes;
    // Only a batch that fails is looked at chunk by chunk, to say what is wrong.
    if (t.matched < batch.length) await explain(store, batch, seen, sample, (n) => (missing += n));
  };
  let batch: Digest[] = [];
  let lengths: number[] = [];
  for await (const refs of Symbol.asyncIterator in chunks ? chunks : [chunks as readonly ChunkRef[]]) {
    for (const c of refs) {
      if (c.kind !== 'data' || !seen.add(c.digest, c.length)) continue;
      batch.push(c.digest);
      lengths.push(c.length);
      if (batch.length === QUERY_BATCH) {
        await check(batch, lengths);
        batch = [];
        lengths = [];
      }
    }
  }
  if (batch.length > 0) await check(batch, lengths);
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
  return { chunks: seen.size, storedBytes: stored };
}

/** Why a batch failed its tally: the chunks it lacks are counted; a wrong length throws. */
async function explain(
  store: ChunkStore,
  batch: readonly Digest[],
  seen: DigestTable,
  sample: Digest[],
  countMissing: (n: number) => void,
): Promise<void> {
  const absent = await store.missing(batch);
  countMissing(absent.length);
  sample.push(...absent.slice(0, 10 - sample.length));
  if (absent.length > 0) return;
  const infos = await store.statMany(batch);
  for (const [i, d] of batch.entries()) {
    const stored = infos[i]?.rawLength;
    const claimed = seen.lengthOf(d);
    if (stored !== undefined && stored !== claimed) {
      throw new IngotError('INVALID_MANIFEST', `the manifest gives chunk ${d} a length of ${claimed}`, {
        details: { digest: d, stored, claimed },
      });
    }
  }
}

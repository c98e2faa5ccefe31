import { setImmediate as setImmediateP } from 'node:timers/promises';
import { assertDigest, type Digest } from '../core/manifest.js';
import type { ChunkTally } from './chunk-store.js';
import { digestKey, type PackIndex } from './pack-index.js';

/**
 * The pack store's have/want questions over many digests (missing, tally): asked of the
 * index in slices, each slice touching what it finds, with a yield between slices so the
 * event loop stays responsive on 32k digests.
 */

/** Digests per index statement of missing() and tally(). */
const SLICE = 4000;

export interface QueryClock {
  /** Throws once the store is closed; checked before each slice. */
  readonly assertOpen: () => void;
  readonly now: () => number;
  /** Rows touched more recently than this are not touched again. */
  readonly touchResolutionMs: number;
}

/** Which of `digests` the index lacks; the present ones are touched. */
export async function missingOf(
  index: PackIndex,
  digests: readonly Digest[],
  c: QueryClock,
): Promise<Digest[]> {
  const unique = [...new Set(digests)];
  // Key order makes each statement touch one narrow stretch of the b-tree.
  const sorted = [...unique].sort();
  const present = new Set<string>();
  await inSlices(sorted, c, (part, _at, now, staleBefore) => {
    for (const d of index.touch(part, now, staleBefore)) present.add(d);
  });
  return unique.filter((d) => !present.has(d));
}

/** How many of `digests` are held with the raw length given, and their stored bytes; touched. */
export async function tallyOf(
  index: PackIndex,
  digests: readonly Digest[],
  rawLengths: readonly number[],
  c: QueryClock,
): Promise<ChunkTally> {
  let matched = 0;
  let storedBytes = 0;
  await inSlices(digests, c, (part, at, now, staleBefore) => {
    const r = index.tally(part.map(digestKey), rawLengths.slice(at, at + part.length), now, staleBefore);
    matched += r.matched;
    storedBytes += r.bytes;
  });
  return { matched, storedBytes };
}

/** `ask` over slices of the digests (each checked first), each with its own time and touch cut-off. */
async function inSlices(
  digests: readonly Digest[],
  c: QueryClock,
  ask: (part: Digest[], at: number, now: number, staleBefore: number) => void,
): Promise<void> {
  c.assertOpen();
  for (const d of digests) assertDigest(d);
  for (let i = 0; i < digests.length; i += SLICE) {
    if (i > 0) await setImmediateP();
    c.assertOpen();
    const now = c.now();
    ask(digests.slice(i, i + SLICE), i, now, now - c.touchResolutionMs);
  }
}

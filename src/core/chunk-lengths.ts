import { IngotError } from './errors.js';
import type { ChunkRef, Digest } from './manifest.js';

/** Each distinct data chunk once, in first-seen order, with its one length. */
export function chunkLengths(chunks: readonly ChunkRef[]): Map<Digest, number> {
  const lengths = new Map<Digest, number>();
  for (const c of chunks) {
    if (c.kind !== 'data') continue;
    if ((lengths.get(c.digest) ?? c.length) !== c.length) {
      throw new IngotError('INVALID_MANIFEST', `the manifest gives chunk ${c.digest} two different lengths`);
    }
    lengths.set(c.digest, c.length);
  }
  return lengths;
}

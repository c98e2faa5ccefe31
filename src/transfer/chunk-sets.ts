import { DigestTable } from '../core/digest-table.js';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';
import { manifestDigest } from '../core/manifest-codec.js';
import { decodeRoot, partsOf, type RootV2, rootFacts, streamChunkList } from '../core/manifest-v2.js';
import { verifiedFetcher } from './downloader.js';
import type { ImageOffer } from './image-sides.js';
import { MAX_DIGESTS_PER_QUERY, type TransferSource } from './ports.js';

/**
 * Distinct chunks to move, each with its length: `batches` hands them out in the image's
 * order, each once per pass.
 */
export interface ChunkSet {
  readonly size: number;
  readonly bytes: number;
  lengthOf(d: Digest): number;
  batches(): AsyncIterable<Digest[]>;
}

/**
 * The manifest must be the one the offer names, and say the same name and origin.
 * Returns a version 2 root's parts apart from the data they name: all a transfer needs of
 * the manifest. A root's chunk list is read from the source (its parts are ~0.06% of the
 * image) part by part, checked against the root: once here for the totals, into a
 * DigestTable, and again as the data moves, so no whole list is ever held.
 */
export async function offerChunks(
  source: TransferSource,
  offer: ImageOffer,
): Promise<{ parts: ChunkSet; data: ChunkSet }> {
  const digest = manifestDigest(offer.manifest);
  if (digest !== offer.digest) {
    throw new IngotError('DIGEST_MISMATCH', `the manifest of ${offer.name} does not match its digest`, {
      details: { expected: offer.digest, found: digest },
    });
  }
  const decoded = decodeRoot(offer.manifest);
  const facts = rootFacts(decoded);
  if (facts.name !== offer.name || facts.origin !== offer.origin) {
    throw new IngotError(
      'INVALID_MANIFEST',
      `the manifest describes ${facts.origin}/${facts.name}, not ${offer.origin}/${offer.name}`,
    );
  }
  if (decoded.version === 1) {
    const { chunks } = decoded.manifest;
    return { parts: await chunkSetOf(listOf([])), data: await chunkSetOf(listOf(chunks)) };
  }
  const root = decoded.root;
  const parts = partsOf(root).map((p): ChunkRef => ({ kind: 'data', digest: p.digest, length: p.length }));
  return {
    parts: await chunkSetOf(listOf(parts)),
    data: await chunkSetOf(() => chunkListFrom(source, root)),
  };
}

type ChunkList = () => AsyncIterable<readonly ChunkRef[]>;

const listOf = (refs: readonly ChunkRef[]): ChunkList =>
  async function* () {
    yield refs;
  };

export function chunkListFrom(source: TransferSource, root: RootV2): AsyncIterable<readonly ChunkRef[]> {
  return streamChunkList(
    root,
    (async function* () {
      for await (const part of verifiedFetcher(source)(root.chunks.parts.map((p) => p.digest)))
        yield part.raw;
    })(),
  );
}

async function chunkSetOf(list: ChunkList): Promise<ChunkSet> {
  const table = new DigestTable();
  for await (const refs of list()) for (const r of refs) if (r.kind === 'data') table.add(r.digest, r.length);
  return setOver(table, list);
}

function setOver(table: DigestTable, list: ChunkList): ChunkSet {
  return {
    size: table.size,
    bytes: table.bytes,
    lengthOf: (d) => table.lengthOf(d) ?? 0,
    async *batches() {
      // Each pass yields every digest once (a free-space check makes one before the move).
      table.clearMarks();
      let batch: Digest[] = [];
      for await (const refs of list()) {
        for (const r of refs) {
          if (r.kind !== 'data' || !table.mark(r.digest)) continue;
          batch.push(r.digest);
          if (batch.length === MAX_DIGESTS_PER_QUERY) {
            yield batch;
            batch = [];
          }
        }
      }
      if (batch.length > 0) yield batch;
    },
  };
}

import { createHash } from 'node:crypto';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';

/**
 * Turns a manifest's chunk list into its bytes, in order, for deploy. Chunks are fetched
 * in batches (up to 256 digests or 32 MiB) with the next batch already in flight, so the
 * source's latency overlaps the writing. A digest repeated inside a batch is fetched once;
 * one repeated across batches is fetched again (simpler than a cache and rare enough).
 * Every chunk is verified (length and SHA-256) whatever the source claims.
 */

export type ChunkFetch = (digests: Digest[]) => AsyncIterable<{ digest: Digest; raw: Buffer }>;

export interface FeedItem {
  readonly ref: ChunkRef;
  /** The plain bytes of a data chunk; absent for a hole. */
  readonly raw?: Buffer;
}

const BATCH_DIGESTS = 256;
const BATCH_BYTES = 32 * 1024 * 1024;
const IN_FLIGHT = 2;

export async function* feedChunks(chunks: readonly ChunkRef[], fetch: ChunkFetch): AsyncGenerator<FeedItem> {
  const batches = planBatches(chunks);
  const pending: Promise<Map<string, Buffer>>[] = [];
  const start = (i: number) => {
    const b = batches[i];
    if (!b) return;
    const p = fetchBatch(b.digests, fetch);
    p.catch(() => {}); // surfaced when awaited; avoids an unhandled rejection meanwhile
    pending.push(p);
  };
  for (let i = 0; i < IN_FLIGHT; i++) start(i);
  for (let i = 0; i < batches.length; i++) {
    const got = await (pending.shift() as Promise<Map<string, Buffer>>);
    start(i + IN_FLIGHT);
    const b = batches[i]!;
    for (let k = b.from; k < b.to; k++) {
      const ref = chunks[k]!;
      if (ref.kind === 'hole') yield { ref };
      else yield { ref, raw: got.get(ref.digest) as Buffer };
    }
  }
}

interface Batch {
  readonly from: number;
  readonly to: number;
  readonly digests: Digest[];
}

function planBatches(chunks: readonly ChunkRef[]): Batch[] {
  const out: Batch[] = [];
  let from = 0;
  let set = new Set<Digest>();
  let bytes = 0;
  for (let k = 0; k < chunks.length; k++) {
    const c = chunks[k]!;
    if (c.kind === 'data' && !set.has(c.digest)) {
      if (set.size >= BATCH_DIGESTS || bytes + c.length > BATCH_BYTES) {
        out.push({ from, to: k, digests: [...set] });
        from = k;
        set = new Set();
        bytes = 0;
      }
      set.add(c.digest);
      bytes += c.length;
    }
  }
  if (from < chunks.length) out.push({ from, to: chunks.length, digests: [...set] });
  return out;
}

async function fetchBatch(digests: Digest[], fetch: ChunkFetch): Promise<Map<string, Buffer>> {
  const got = new Map<string, Buffer>();
  if (digests.length === 0) return got;
  const wanted = new Set<string>(digests);
  for await (const { digest, raw } of fetch(digests)) {
    if (!wanted.has(digest)) continue;
    const found = createHash('sha256').update(raw).digest('hex');
    if (found !== digest) {
      throw new IngotError('DIGEST_MISMATCH', `chunk ${digest} arrived with other bytes`, {
        details: { expected: digest, found },
      });
    }
    got.set(digest, raw);
  }
  const absent = digests.filter((d) => !got.has(d));
  if (absent.length > 0) {
    throw new IngotError('MISSING_CHUNKS', `${absent.length} chunks could not be fetched`, {
      details: { missing: absent.slice(0, 20), count: absent.length },
    });
  }
  return got;
}

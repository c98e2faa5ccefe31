import type { ChunkRef, Digest } from '../core/manifest.js';
import type { EncodedChunk } from '../store/chunk-store.js';
import { cpuPool } from '../store/cpu-pool.js';
import { InFlight } from './in-flight.js';
import { patchesFor } from './patch-chunks.js';
import { BATCH_CHUNKS, type ChunkSink, type MovingChunk, type PutAnswer, type WireChunk } from './ports.js';

/**
 * The sending half of ingest: chunks stream in from the local chunker, are grouped in
 * batches, the receiver says which it lacks, and only those are compressed and sent.
 * A few batches are in flight so chunking, compression and the network overlap, and
 * no more, so memory stays flat however large the image.
 */
export interface UploadStats {
  chunks: number;
  uniqueChunks: number;
  sentChunks: number;
  sentRawBytes: number;
  storedBytes: number;
  knownBytes: number;
  holeBytes: number;
  /** Chunks sent as patches against the receiver's copy of a reference, and their bytes. */
  patchedChunks: number;
  patchBytes: number;
}

export function emptyUploadStats(): UploadStats {
  return {
    chunks: 0,
    uniqueChunks: 0,
    sentChunks: 0,
    sentRawBytes: 0,
    storedBytes: 0,
    knownBytes: 0,
    holeBytes: 0,
    patchedChunks: 0,
    patchBytes: 0,
  };
}

/**
 * Patches for an upload whose receiver holds an older version (patch-chunks.ts): the
 * reference of each wanted chunk, picked in the image's order, the receiver's signatures of
 * those references, and a put that takes the patches (a version 2 stream).
 */
export interface UploadPatches {
  /** Per wanted digest of `batch`, in order, its reference; called once per batch, in order. */
  references(batch: readonly Digest[], wanted: ReadonlySet<Digest>): (Digest | undefined)[];
  signatures(digests: readonly Digest[]): Promise<Map<Digest, Buffer>>;
  put(chunks: AsyncIterable<MovingChunk>): Promise<PutAnswer>;
}

export interface PendingChunk {
  readonly ref: ChunkRef;
  readonly raw?: Buffer;
  /** Called once the upload is done with `raw` (sent, known or a duplicate). */
  readonly release?: () => void;
}

type Item = { digest: Digest; raw: Buffer; release?: (() => void) | undefined };

/** Payload bytes done, and how: found already stored (`knownBytes`), sent, or neither (a hole). */
export type OnBytes = (n: number, how?: 'stored' | 'sent') => void;

export async function uploadChunks(
  sink: ChunkSink,
  chunks: AsyncIterable<PendingChunk>,
  opts: {
    inFlight?: number;
    batchChunks?: number;
    onBytes?: OnBytes;
    patches?: UploadPatches;
    /**
     * Called as the stream's first `chunks` chunks become stored or known (each batch's put
     * settled, and every batch before it), so a caller can record durable progress without
     * stopping the flow to wait for it.
     */
    onDurable?: (chunks: number) => void;
  } = {},
): Promise<{ refs: ChunkRef[]; stats: UploadStats }> {
  const refs: ChunkRef[] = [];
  const seen = new Set<string>();
  const stats = emptyUploadStats();
  // With patches, references are picked batch by batch in the image's order.
  let turn: Promise<unknown> = Promise.resolve();
  const asked = (items: Item[]): Promise<Asked> => {
    const digests = items.map((i) => i.digest);
    if (!opts.patches) return sink.missing(digests).then((m) => ({ missing: new Set(m) }));
    const patches = opts.patches;
    const mine = turn.then(async () => {
      const missing = new Set(await sink.missing(digests));
      return { missing, references: patches.references(digests, missing) };
    });
    turn = mine.catch(() => {});
    return mine;
  };
  const inFlight = new InFlight(opts.inFlight ?? 3);
  const batchChunks = opts.batchChunks ?? BATCH_CHUNKS;
  let batch: Item[] = [];
  const durable = durablePrefix(opts.onDurable);
  const launch = (items: Item[]) => {
    const settled = durable.launched(refs.length);
    return inFlight.launch(async () => {
      await sendBatch(sink, items, await asked(items), stats, opts);
      for (const i of items) i.release?.();
      settled();
    });
  };

  for await (const c of chunks) {
    refs.push(c.ref);
    stats.chunks++;
    if (c.ref.kind === 'hole') {
      stats.holeBytes += c.ref.length;
      opts.onBytes?.(c.ref.length);
      continue;
    }
    if (seen.has(c.ref.digest)) {
      c.release?.();
      stats.knownBytes += c.ref.length;
      opts.onBytes?.(c.ref.length, 'stored');
      continue;
    }
    seen.add(c.ref.digest);
    stats.uniqueChunks++;
    if (!c.raw) throw new Error(`chunk ${c.ref.digest} has no bytes`);
    batch.push({ digest: c.ref.digest, raw: c.raw, release: c.release });
    if (batch.length >= batchChunks) {
      await launch(batch);
      batch = [];
    }
  }
  if (batch.length) await launch(batch);
  await inFlight.drain();
  opts.onDurable?.(refs.length);
  return { refs, stats };
}

/**
 * Batches settle out of order; the stream is durable up to the last chunk of the latest
 * batch all of whose predecessors have settled too. A chunk between batches (a hole, a
 * duplicate, a known one) is counted with the next batch, whose put covers what it needs.
 */
function durablePrefix(onDurable: ((chunks: number) => void) | undefined) {
  const order: { through: number; settled: boolean }[] = [];
  return {
    /** A batch launched once `through` chunks were read; call the answer when its put settled. */
    launched(through: number): () => void {
      const mark = { through, settled: false };
      if (onDurable) order.push(mark);
      return () => {
        mark.settled = true;
        let reached: number | undefined;
        while (order[0]?.settled) reached = (order.shift() as { through: number }).through;
        if (reached !== undefined) onDurable?.(reached);
      };
    },
  };
}

/** What the receiver lacks of a batch, and (with patches) each wanted chunk's reference. */
interface Asked {
  readonly missing: ReadonlySet<Digest>;
  readonly references?: readonly (Digest | undefined)[];
}

async function sendBatch(
  sink: ChunkSink,
  items: Item[],
  { missing, references }: Asked,
  stats: UploadStats,
  opts: { onBytes?: OnBytes; patches?: UploadPatches },
): Promise<void> {
  const onBytes = opts.onBytes;
  const wanted = items.filter((i) => missing.has(i.digest));
  for (const i of items) {
    if (!missing.has(i.digest)) {
      stats.knownBytes += i.raw.length;
      onBytes?.(i.raw.length, 'stored');
    }
  }
  if (wanted.length === 0) return;
  const result =
    opts.patches && references
      ? await putPatched(opts.patches, wanted, references, stats)
      : await sink.put(iterate(await whole(wanted)));
  stats.sentChunks += wanted.length;
  stats.storedBytes += result.storedBytes;
  for (const i of wanted) {
    stats.sentRawBytes += i.raw.length;
    onBytes?.(i.raw.length, 'sent');
  }
}

async function whole(items: readonly Item[]): Promise<WireChunk[]> {
  const encoded = await cpuPool().encode(items.map((i) => i.raw));
  return items.map((i, k) => ({
    digest: i.digest,
    encoded: encoded[k] as EncodedChunk,
    rawLength: i.raw.length,
  }));
}

/** Patches where they save enough, the rest whole; a patch the receiver refuses goes again whole. */
async function putPatched(
  patches: UploadPatches,
  wanted: readonly Item[],
  references: readonly (Digest | undefined)[],
  stats: UploadStats,
): Promise<{ storedBytes: number }> {
  const refs = [...new Set(references.filter((r): r is Digest => r !== undefined))];
  const signatures = refs.length > 0 ? await patches.signatures(refs) : new Map<Digest, Buffer>();
  const made = await patchesFor(
    wanted.map((w, k) => ({ raw: w.raw, reference: references[k] })),
    signatures,
  );
  const plain = await whole(wanted.filter((_, k) => !made[k]));
  let p = 0;
  const chunks: MovingChunk[] = wanted.map((w, k) => {
    const patch = made[k];
    return patch ? { digest: w.digest, encoded: patch, rawLength: w.raw.length } : (plain[p++] as WireChunk);
  });
  const answer = await patches.put(iterate(chunks));
  const refused = new Set(answer.refused ?? []);
  for (const [k, c] of chunks.entries()) {
    if (!made[k] || refused.has(c.digest)) continue;
    stats.patchedChunks++;
    stats.patchBytes += c.encoded.payload.length;
  }
  if (refused.size === 0) return answer;
  const again = await patches.put(iterate(await whole(wanted.filter((w) => refused.has(w.digest)))));
  return { storedBytes: answer.storedBytes + again.storedBytes };
}

async function* iterate<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

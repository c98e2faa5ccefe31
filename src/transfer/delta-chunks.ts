import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { ChunkReader, HashedChunk } from '../store/chunk-store.js';
import { decodeChunk, encodeChunk } from '../store/compression.js';
import { type CpuPool, cpuPool } from '../store/cpu-pool.js';
import type { DeltaChunk } from '../store/frame-codec.js';
import type { MovingChunk, References, WireChunk } from './ports.js';

/**
 * Both ends of a delta: the sender turns a stored chunk into a delta against the reference
 * the transfer picked (delta-references.ts), where that saves enough; the receiver decodes
 * one against its own copy of the reference, checks the SHA-256 of the result and stores
 * the chunk whole. Stores keep whole chunks only: deploy and verify read a chunk without
 * following a chain of references, and gc needs no reference counts between chunks.
 */

/** Chunks with a reference are encoded this many at a time, so the pool's workers share them. */
const WINDOW = 64;
/** No chunk decodes past this (the store's bound): a delta that could is a bomb. */
const MAX_RAW = 16 * 2 ** 20;

/**
 * The sender's half: `chunks` as served (in the order asked), each with its references
 * (`references[i]`, or undefined) sent as a delta against them when the pool finds one
 * worth it, else as stored. A reference this store lacks sends its chunk whole. Payloads
 * are lent as by the store (ports.ts): a chunk kept back for its window is copied first.
 */
export async function* deltaEncoded(
  store: ChunkReader,
  chunks: AsyncIterable<WireChunk>,
  references: References,
  pool: CpuPool = cpuPool(),
): AsyncGenerator<MovingChunk> {
  let i = 0;
  let window: Pending[] = [];
  for await (const c of chunks) {
    const refs = references[i++];
    if (refs === undefined && window.length === 0) {
      yield c;
      continue;
    }
    window.push({ chunk: copied(c), references: refs });
    if (window.length >= WINDOW) {
      yield* await encodeWindow(store, window, pool);
      window = [];
    }
  }
  if (window.length > 0) yield* await encodeWindow(store, window, pool);
}

interface Pending {
  readonly chunk: WireChunk;
  readonly references: readonly Digest[] | undefined;
}

function copied(c: WireChunk): WireChunk {
  return { ...c, encoded: { encoding: c.encoded.encoding, payload: Buffer.from(c.encoded.payload) } };
}

async function encodeWindow(
  store: ChunkReader,
  window: readonly Pending[],
  pool: CpuPool,
): Promise<MovingChunk[]> {
  const held = await rawReferences(
    store,
    window.flatMap((w) => w.references ?? []),
  );
  const pairs = window.flatMap((w, i) => {
    const dictionary = w.references && dictionaryOf(w.references, held);
    return dictionary ? [{ i, dictionary, references: w.references as readonly Digest[] }] : [];
  });
  const targets = await Promise.all(
    pairs.map(({ i }) => {
      const { chunk } = window[i] as Pending;
      return decodeChunk(chunk.encoded, chunk.rawLength);
    }),
  );
  const deltas = await pool.delta(
    pairs.map((p, k) => ({ target: targets[k] as Buffer, reference: p.dictionary })),
  );
  const out: MovingChunk[] = window.map((w) => w.chunk);
  pairs.forEach(({ i, references }, k) => {
    const delta = deltas[k];
    const { chunk } = window[i] as Pending;
    if (delta) out[i] = { ...chunk, encoded: { encoding: 'delta', references, payload: delta } };
  });
  return out;
}

/** A delta's dictionary: its references' bytes back to back; undefined if one is not held. */
function dictionaryOf(references: readonly Digest[], held: ReadonlyMap<Digest, Buffer>): Buffer | undefined {
  const parts = references.map((r) => held.get(r));
  return parts.every((p) => p !== undefined) ? Buffer.concat(parts as Buffer[]) : undefined;
}

/** The plain bytes of each reference this store holds; absent ones are left out. */
async function rawReferences(store: ChunkReader, digests: readonly Digest[]): Promise<Map<Digest, Buffer>> {
  const wanted = [...new Set(digests)];
  const held: Digest[] = [];
  for (const d of wanted) if (await store.has(d)) held.push(d);
  const out = new Map<Digest, Buffer>();
  for await (const c of store.readStored(held)) out.set(c.digest, await decodeChunk(c.encoded, c.rawLength));
  return out;
}

/** A delta the receiver would not store, and why; the sender then sends the chunk whole. */
export interface RefusedDelta {
  readonly digest: Digest;
  readonly reason: string;
}

/**
 * The receiver's half: each delta decoded against this store's copy of its reference on
 * the CPU pool, and checked. One whose reference is not held here, that does not decode,
 * that would decode past the chunk bound (a delta bomb, refused before any work), or that
 * decodes to other bytes than its digest names is refused; nothing of it is stored. The
 * good ones come back hashed (their digest computed here from the decoded bytes) and
 * encoded for the store.
 */
export async function resolveDeltas(
  store: ChunkReader,
  items: readonly { digest: Digest; rawLength: number; encoded: DeltaChunk }[],
  pool: CpuPool = cpuPool(),
): Promise<{ hashed: HashedChunk[]; refused: RefusedDelta[] }> {
  const held = await rawReferences(
    store,
    items.flatMap((it) => it.encoded.references),
  );
  const refused: RefusedDelta[] = [];
  const todo = items.flatMap((it) => {
    const dictionary = dictionaryOf(it.encoded.references, held);
    if (dictionary) return [{ ...it, dictionary }];
    const absent = it.encoded.references.filter((r) => !held.has(r));
    refused.push({ digest: it.digest, reason: `its reference ${absent.join(', ')} is not held here` });
    return [];
  });
  const results = await pool.undelta(
    todo.map((it) => ({ delta: it.encoded.payload, reference: it.dictionary })),
    { maxRaw: MAX_RAW },
  );
  const decoded: { digest: Digest; raw: Buffer }[] = [];
  todo.forEach((it, k) => {
    const v = results[k];
    if (!v || v.error !== undefined) {
      refused.push({ digest: it.digest, reason: v?.error ?? 'not decoded' });
    } else if (v.digest !== it.digest || v.rawLength !== it.rawLength || !v.raw) {
      refused.push({ digest: it.digest, reason: `it decodes to ${v.digest} (${v.rawLength} bytes)` });
    } else {
      decoded.push({ digest: it.digest, raw: v.raw });
    }
  });
  const hashed = await Promise.all(
    decoded.map(async (d) => ({
      digest: d.digest,
      chunk: await encodeChunk(d.raw),
      rawLength: d.raw.length,
    })),
  );
  return { hashed, refused };
}

/** Nothing but whole chunks: for paths (deploy, uploads) that never ask for deltas. */
export function wholeOnly(c: MovingChunk): WireChunk {
  if (c.encoded.encoding !== 'delta') return c as WireChunk;
  throw new IngotError('CORRUPT', `the sender sent chunk ${c.digest} as a delta, which was not asked for`);
}

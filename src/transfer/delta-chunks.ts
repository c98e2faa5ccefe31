import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { ChunkStore, EncodedChunk, HashedChunk, StoredChunk } from '../store/chunk-store.js';
import { decodeChunk } from '../store/compression.js';
import { type CpuPool, cpuPool } from '../store/cpu-pool.js';
import type { DeltaChunk } from '../store/frame-codec.js';
import type { MovingChunk, References, WireChunk } from './ports.js';

/**
 * Both ends of a delta: the sender turns a stored chunk into a delta against references the
 * transfer picked (delta-references.ts), where that saves enough; the receiver decodes one
 * against its own copies of them, checks the SHA-256 of the result and stores the chunk
 * whole. Stores keep whole chunks only: deploy and verify read a chunk without
 * following a chain of references, and gc needs no reference counts between chunks.
 */

/** Chunks with references are encoded this many at a time, so the pool's workers share them. */
const WINDOW = 16;
/** No chunk decodes past this (the store's bound): a delta that could is a bomb. */
const MAX_RAW = 16 * 2 ** 20;

/**
 * The sender's half: `chunks` as served (in the order asked), each with its references
 * (`references[i]`, or undefined) sent as a delta against them when the pool finds one
 * worth it, else as stored. A reference this store lacks sends its chunk whole. Payloads
 * are lent as by the store (ports.ts): a chunk kept back for its window is copied first,
 * and targets and references go to the pool in their stored form for its worker to decode.
 * One window is encoded while the one before it is sent, so reading references, decoding
 * and the pool's work overlap the socket.
 */
export async function* deltaEncoded(
  store: ChunkStore,
  chunks: AsyncIterable<WireChunk>,
  references: References,
  pool: CpuPool = cpuPool(),
): AsyncGenerator<MovingChunk> {
  let i = 0;
  let window: Pending[] = [];
  let ahead: Promise<MovingChunk[]> | undefined;
  for await (const c of chunks) {
    const refs = references[i++];
    if (refs === undefined && window.length === 0 && !ahead) {
      yield c;
      continue;
    }
    window.push({ chunk: copied(c), references: refs });
    if (window.length < WINDOW) continue;
    const started = encodeWindow(store, window, pool);
    // Its failure surfaces where it is awaited; until then it must not count as unhandled.
    started.catch(() => {});
    window = [];
    if (ahead) yield* await ahead;
    ahead = started;
  }
  if (ahead) yield* await ahead;
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
  store: ChunkStore,
  window: readonly Pending[],
  pool: CpuPool,
): Promise<MovingChunk[]> {
  const out: MovingChunk[] = window.map((w) => w.chunk);
  // Targets and references go to the pool as stored: the worker decodes them, so this
  // event loop neither runs those zstd calls nor allocates their plain bytes (which, as
  // external memory, set off a full marking of its heap every 64 MB).
  const items = window.flatMap((w, i) =>
    w.references ? [{ i, chunk: w.chunk, references: w.references }] : [],
  );
  // The chunk in its place alone first (the last reference): that is all most deltas need,
  // and where the two line up an aligned patch is as small and far cheaper (cpu-work.ts).
  const first = await tryDeltas(store, pool, items, (refs) => refs.slice(-1), true);
  const again = items.filter(
    (it, k) => it.references.length > 1 && !smallEnough(first[k], it.chunk.rawLength),
  );
  const wider = await tryDeltas(store, pool, again, (refs) => refs, false);
  const best = new Map<number, DeltaChunk>();
  items.forEach((it, k) => {
    const d = first[k];
    if (d) best.set(it.i, d);
  });
  again.forEach((it, k) => {
    const d = wider[k];
    const held = best.get(it.i);
    if (d && (!held || d.payload.length < held.payload.length)) best.set(it.i, d);
  });
  for (const [i, encoded] of best) out[i] = { ...(window[i] as Pending).chunk, encoded };
  return out;
}

/**
 * A delta against the chunk in its place alone that is at most this part of its target is
 * kept; a larger one is tried again with the neighbours. Measured on the benchmark's file:
 * 653 of 2921 chunks tried twice, 18.8 MiB of deltas against 18.5 with every chunk tried
 * against all three, at about half the encoding work and a third of the reference reads.
 */
const SMALL_DELTA = 1 / 8;

function smallEnough(d: DeltaChunk | undefined, rawLength: number): boolean {
  return d !== undefined && d.payload.length <= rawLength * SMALL_DELTA;
}

/** Per item, a delta against the references `choose` takes of its own, where one is worth it. */
async function tryDeltas(
  store: ChunkStore,
  pool: CpuPool,
  items: readonly { chunk: WireChunk; references: readonly Digest[] }[],
  choose: (refs: readonly Digest[]) => readonly Digest[],
  aligned: boolean,
): Promise<(DeltaChunk | undefined)[]> {
  const chosen = items.map((it) => choose(it.references));
  const held = await storedReferences(store, chosen.flat());
  const pairs = items.flatMap((it, k) => {
    const parts = dictionaryOf(chosen[k] as readonly Digest[], held);
    if (!parts) return [];
    const target = it.chunk.encoded;
    return [{ k, target: target.payload, aligned, ...asStored(target, parts) }];
  });
  const deltas = await pool.delta(pairs);
  const out: (DeltaChunk | undefined)[] = items.map(() => undefined);
  pairs.forEach(({ k }, j) => {
    const made = deltas[j];
    if (!made) return;
    const references = chosen[k] as readonly Digest[];
    out[k] = { encoding: 'delta', references, payload: made.payload, ...(made.patch ? { patch: true } : {}) };
  });
  return out;
}

/**
 * A delta's dictionary: its references' bytes, in parts the pool lays back to back;
 * undefined if one is not held.
 */
function dictionaryOf<T>(references: readonly Digest[], held: ReadonlyMap<Digest, T>): T[] | undefined {
  const parts = references.map((r) => held.get(r));
  return parts.every((p) => p !== undefined) ? (parts as T[]) : undefined;
}

/** The stored form of each reference this store holds (read, not lent: they are kept). */
async function storedReferences(
  store: ChunkStore,
  digests: readonly Digest[],
): Promise<Map<Digest, StoredChunk>> {
  const wanted = [...new Set(digests)];
  const infos = await store.statMany(wanted);
  const held = new Map<Digest, StoredChunk>();
  for await (const c of store.readStored(wanted.filter((_, i) => infos[i] !== undefined))) {
    held.set(c.digest, c);
  }
  return held;
}

/**
 * A pair's reference as stored, for the pool's worker to decode: its parts' payloads, and
 * the `zstd` flags of the pair's first item (`first`; undefined: a delta, never decoded)
 * and of each part, left out where none is zstd (nothing to decode).
 */
function asStored(
  first: EncodedChunk | undefined,
  parts: readonly StoredChunk[],
): { reference: Buffer[]; zstd?: boolean[] } {
  const reference = parts.map((c) => c.encoded.payload);
  const zstd = [first?.encoding === 'zstd', ...parts.map((c) => c.encoded.encoding === 'zstd')];
  return zstd.some(Boolean) ? { reference, zstd } : { reference };
}

/** The plain bytes of each reference this store holds; absent ones are left out. */
export async function rawReferences(
  store: ChunkStore,
  digests: readonly Digest[],
): Promise<Map<Digest, Buffer>> {
  const held = await storedReferences(store, digests);
  const decoding = [...held].map(async ([d, c]) => [d, await decodeChunk(c.encoded, c.rawLength)] as const);
  return new Map(await Promise.all(decoding));
}

/** A delta the receiver would not store, and why; the sender then sends the chunk whole. */
export interface RefusedDelta {
  readonly digest: Digest;
  readonly reason: string;
}

/**
 * The receiver's half: each delta decoded against this store's copies of its references on
 * the CPU pool, and checked. One whose reference is not held here, that does not decode,
 * that would decode past the chunk bound (a delta bomb, refused before any work), or that
 * decodes to other bytes than its digest names is refused; nothing of it is stored. The
 * good ones come back hashed (their digest computed here from the decoded bytes) and
 * encoded for the store.
 */
export async function resolveDeltas(
  store: ChunkStore,
  items: readonly { digest: Digest; rawLength: number; encoded: DeltaChunk }[],
  pool: CpuPool = cpuPool(),
): Promise<{ hashed: HashedChunk[]; refused: RefusedDelta[] }> {
  const held = await storedReferences(
    store,
    items.flatMap((it) => it.encoded.references),
  );
  const refused: RefusedDelta[] = [];
  const todo = items.flatMap((it) => {
    const dictionary = dictionaryOf(it.encoded.references, held);
    if (dictionary) return [{ ...it, dictionary }];
    const absent = it.encoded.references.filter((r) => !held.has(r));
    refused.push({ digest: it.digest, reason: `its references ${absent.join(', ')} are not held here` });
    return [];
  });
  const results = await pool.undelta(
    todo.map((it) => ({
      delta: it.encoded.payload,
      ...asStored(undefined, it.dictionary),
      ...(it.encoded.patch ? { patch: true } : {}),
    })),
    // Each comes back as the store keeps it, encoded on the worker (no zstd on the event loop).
    { maxRaw: MAX_RAW, store: true },
  );
  const hashed: HashedChunk[] = [];
  todo.forEach((it, k) => {
    const v = results[k];
    if (!v || v.error !== undefined) {
      refused.push({ digest: it.digest, reason: v?.error ?? 'not decoded' });
    } else if (v.digest !== it.digest || v.rawLength !== it.rawLength || !v.stored) {
      refused.push({ digest: it.digest, reason: `it decodes to ${v.digest} (${v.rawLength} bytes)` });
    } else {
      hashed.push({ digest: it.digest, chunk: v.stored, rawLength: v.rawLength });
    }
  });
  return { hashed, refused };
}

/** Nothing but whole chunks: for paths (deploy, uploads) that never ask for deltas. */
export function wholeOnly(c: MovingChunk): WireChunk {
  if (c.encoded.encoding !== 'delta') return c as WireChunk;
  throw new IngotError('CORRUPT', `the sender sent chunk ${c.digest} as a delta, which was not asked for`);
}

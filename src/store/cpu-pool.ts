import { availableParallelism } from 'node:os';
import { errorFromBody } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { CheckedManifest } from '../core/manifest-v2-check.js';
import type { EncodedChunk } from './chunk-store.js';
import { backToBack, type CpuResult, runCpuTask } from './cpu-work.js';
import { type Run, SLOT_BYTES, workerRun, workersBuilt } from './cpu-workers.js';

/**
 * The one pool for CPU-heavy chunk work (SHA-256, zstd decoding for verification and encoding
 * for the store, deltas against a reference chunk, and the running SHA-256 of a whole bundle
 * file): a worker thread per core, shared by everything in the process, so hashing never
 * runs on the event loop and an ingest, a transfer and a verify together use every core and
 * no more.
 *
 * A batch goes as one small message, its chunks copied once into a free slot of a buffer
 * shared with that worker (a fresh buffer moved per batch cost ~0.9 s of main-thread time
 * per GiB: allocation, page faults and the GCs external memory churn sets off; cloning
 * views cost more than hashing them). A batch too big for a slot, or finding none free,
 * goes in a buffer of its own, moved. A batch whose chunks all lie in one SharedArrayBuffer
 * (the blocks a file is read into, block-reads.ts) is not copied at all: the message names
 * that buffer and the chunks' offsets in it, and the worker hashes them where they are.
 * The least-loaded worker (pending bytes) takes it.
 * Workers keep the process alive only while they have work. Without a compiled worker
 * (running from TypeScript sources) the same functions run in-thread.
 *
 * zstd runs on the workers' own threads (zstd-sync.ts): compressing 100 MB of a tree's
 * 64 KiB chunks took 0.15-0.2 CPU-s there and 0.5-0.55 through the event loop's streams
 * on libuv's pool, sixteen at a time.
 */
export interface CpuPool {
  hash(chunks: readonly Uint8Array[]): Promise<Digest[]>;
  /**
   * Decodes each encoded chunk (at most `maxRaw` bytes) and hashes the result. Callers
   * bound zstd payloads from their headers first (zstd-bound.ts); this is the second fence.
   */
  verify(
    chunks: readonly EncodedChunk[],
    opts: { maxRaw: number; keepRaw?: boolean },
  ): Promise<Verification[]>;
  /** Each chunk in the form the store keeps (encodeChunk's choice: zstd where it pays). */
  encode(chunks: readonly Uint8Array[]): Promise<EncodedChunk[]>;
  /** A SHA-256 over bytes given in order, such as a whole file read block by block. */
  sha256Stream(): StreamHash;
  /**
   * Per pair, `target` as a delta against `reference` (delta-codec.ts) or a patch
   * (patch-codec.ts, as the pair asks), or undefined where it would save less than an
   * eighth of the target (cpu-work.ts says why).
   */
  delta(pairs: readonly DeltaPair[]): Promise<(MadeDelta | undefined)[]>;
  /**
   * Per item, the delta decoded against its reference (at most `maxRaw` bytes) and hashed,
   * with the decoded bytes. One that does not decode, or may decode past `maxRaw`, is an
   * error for that item. The caller compares the digest with the one it expected: a delta
   * decoded against another reference can give other bytes without an error.
   */
  undelta(items: readonly DeltaItem[], opts: { maxRaw: number; store?: boolean }): Promise<Verification[]>;
  /** Per chunk, its block signatures (patch-codec.ts), for a sender that lacks it to patch against. */
  sign(chunks: readonly Uint8Array[]): Promise<Buffer[]>;
  /**
   * A version 2 manifest (its root, then its parts in `partsOf` order) checked whole on
   * another thread, its tallies answered; a manifest that fails is its IngotError.
   */
  checkManifest(
    root: Buffer,
    parts: readonly Buffer[],
    canonical: ReadonlySet<Digest>,
  ): Promise<CheckedManifest>;
}

/**
 * A reference given in parts is their bytes back to back (a dictionary of several chunks):
 * they are laid out so in the worker's slot, with no copy made to join them first.
 */
export type Reference = Uint8Array | readonly Uint8Array[];

export interface DeltaPair {
  readonly target: Uint8Array;
  /** With `patch`, the reference's block signatures instead of its bytes. */
  readonly reference: Reference;
  /** A patch (patch-codec.ts) instead of a zstd delta. */
  readonly patch?: boolean;
  /** A patch where target and reference line up (alignedPatch) when that is small, else zstd. */
  readonly aligned?: boolean;
  /**
   * Which of the pair's parts (its target, then each part of its reference) are zstd frames
   * for the worker to decode first (at most 16 MiB each): stored forms, lent as they are.
   * Without it every part is plain bytes.
   */
  readonly zstd?: readonly boolean[];
}

export interface MadeDelta {
  readonly payload: Buffer;
  /** A patch (patch-codec.ts), not a zstd frame. */
  readonly patch: boolean;
}

export interface DeltaItem {
  readonly delta: Uint8Array;
  readonly reference: Reference;
  /** The delta is a patch (patch-codec.ts), not a zstd frame. */
  readonly patch?: boolean;
  /** As for DeltaPair: the delta (never decoded: false), then each part of its reference. */
  readonly zstd?: readonly boolean[];
}

const partsOf = (r: Reference): readonly Uint8Array[] => (r instanceof Uint8Array ? [r] : r);
const lengthOf = (r: Reference): number => partsOf(r).reduce((n, p) => n + p.length, 0);

/**
 * One running SHA-256. Every update goes to one worker, so they are hashed in the order
 * given. update copies the bytes before it returns (the caller may reuse its buffer at once)
 * and resolves once they are hashed: a reader keeps a few pending, no more.
 */
export interface StreamHash {
  update(bytes: Uint8Array): Promise<void>;
  /**
   * The same for bytes in a SharedArrayBuffer (a pooled read block) that the caller keeps
   * unchanged until this resolves: the worker hashes them where they lie. Copying each
   * block into a slot cost a third of a download's main-thread copying (V8 copies into
   * shared memory with relaxed atomics, several times slower than memcpy).
   */
  updateShared(bytes: Uint8Array): Promise<void>;
  /** The digest of everything given; the stream ends (call it on failure too, to free it). */
  digest(): Promise<Buffer>;
}

export type Verification =
  | {
      readonly digest: Digest;
      readonly rawLength: number;
      readonly raw?: Buffer;
      /** undelta with `store`: the chunk in the form the store keeps (encodeChunk's). */
      readonly stored?: EncodedChunk;
      readonly error?: undefined;
    }
  | { readonly error: string };

let shared: CpuPool | undefined;

/** The process's pool, started on first use. */
export function cpuPool(): CpuPool {
  shared ??= poolOver(
    workersBuilt()
      ? workerRun(Math.max(1, availableParallelism()))
      : (job, parts) => runCpuTask({ ...job, bytes: backToBack(parts) }),
  );
  return shared;
}

let nextStream = 0;

function poolOver(run: Run): CpuPool {
  return {
    sha256Stream() {
      const stream = nextStream++;
      return {
        update(bytes) {
          const pieces: Promise<CpuResult>[] = [];
          for (let at = 0; at < bytes.length; at += SLOT_BYTES) {
            const piece = bytes.subarray(at, at + SLOT_BYTES);
            pieces.push(run({ op: 'stream', lengths: [piece.length], stream }, [piece]));
          }
          return Promise.all(pieces).then(() => {});
        },
        async updateShared(bytes) {
          if (!(bytes.buffer instanceof SharedArrayBuffer)) return this.update(bytes);
          await run({ op: 'stream', lengths: [bytes.length], stream, lent: true }, [bytes]);
        },
        async digest() {
          const r = await run({ op: 'stream', lengths: [0], stream, end: true }, []);
          return Buffer.from(r.digests[0] as string, 'hex');
        },
      };
    },
    async hash(chunks) {
      const parts = await inPieces(chunks, alone, (piece) =>
        run({ op: 'hash', lengths: piece.map((c) => c.length) }, piece),
      );
      return parts.flatMap((r) => r.digests) as Digest[];
    },
    async encode(chunks) {
      const parts = await inPieces(chunks, alone, async (piece) =>
        encodedForms(await run({ op: 'encode', lengths: piece.map((c) => c.length) }, piece), piece),
      );
      return parts.flat();
    },
    async delta(pairs) {
      const views = (p: DeltaPair) => [p.target, ...partsOf(p.reference)];
      const parts = await inPieces(pairs, views, async (piece) => {
        const lengths = piece.flatMap((p) => [p.target.length, lengthOf(p.reference)]);
        const job = { op: 'delta', lengths, ...formsOf(piece), ...encodedParts(piece) } as const;
        return deltas(await run(job, piece.flatMap(views)));
      });
      return parts.flat();
    },
    async undelta(items, opts) {
      const views = (d: DeltaItem) => [d.delta, ...partsOf(d.reference)];
      const parts = await inPieces(items, views, async (piece) => {
        const lengths = piece.flatMap((d) => [d.delta.length, lengthOf(d.reference)]);
        const store = opts.store ? { store: true } : {};
        const job = {
          op: 'undelta',
          lengths,
          maxRaw: opts.maxRaw,
          ...store,
          ...formsOf(piece),
          ...encodedParts(piece),
        } as const;
        const r = await run(job, piece.flatMap(views));
        return opts.store ? storedForms(r) : verifications(r, () => undefined);
      });
      return parts.flat();
    },
    async checkManifest(root, parts, canonical) {
      const r = await run(
        { op: 'manifest', lengths: [root.length, ...parts.map((p) => p.length)], canonical: [...canonical] },
        [root, ...parts],
      );
      const failed = r.errors[0];
      if (failed) throw errorFromBody(JSON.parse(failed), 'the manifest check failed');
      return r.manifest as CheckedManifest;
    },
    async sign(chunks) {
      const parts = await inPieces(chunks, alone, async (piece) =>
        backToBackItems(await run({ op: 'sign', lengths: piece.map((c) => c.length) }, piece)),
      );
      return parts.flat() as Buffer[];
    },
    async verify(chunks, opts) {
      const parts = await inPieces(
        chunks,
        (c) => [c.payload],
        async (piece) => {
          const payloads = piece.map((c) => c.payload);
          const r = await run(
            {
              op: 'verify',
              lengths: payloads.map((p) => p.length),
              encodings: piece.map((c) => (c.encoding === 'zstd' ? 1 : 0)),
              maxRaw: opts.maxRaw,
              keepRaw: opts.keepRaw ?? false,
            },
            payloads,
          );
          return verifications(r, (i) => {
            const chunk = piece[i] as EncodedChunk;
            return chunk.encoding === 'raw' ? chunk.payload : undefined;
          });
        },
      );
      return parts.flat();
    },
  };
}

const alone = (b: Uint8Array) => [b];

/**
 * A batch cut into pieces of at most SLOT_BYTES (a single larger item alone), run at once:
 * each fits a shared slot, and the workers share a large batch between them. An item is
 * the bytes `views` gives for it (a delta pair's target and reference count both).
 */
function inPieces<T, R>(
  items: readonly T[],
  views: (it: T) => readonly Uint8Array[],
  run: (piece: T[]) => Promise<R>,
): Promise<R[]> {
  const pieces: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  let backing: ArrayBufferLike | undefined;
  for (const it of items) {
    let n = 0;
    let moved = false;
    for (const view of views(it)) {
      n += view.length;
      // A piece keeps to one shared block, so it can go to a worker without a copy.
      moved ||= cur.length > 0 && view.buffer !== backing && isShared(view.buffer, backing);
      backing = view.buffer;
    }
    if (cur.length > 0 && (bytes + n > SLOT_BYTES || moved)) {
      pieces.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += n;
  }
  if (cur.length > 0 || pieces.length === 0) pieces.push(cur);
  return Promise.all(pieces.map(run));
}

function isShared(a: ArrayBufferLike, b: ArrayBufferLike | undefined): boolean {
  return a instanceof SharedArrayBuffer || b instanceof SharedArrayBuffer;
}

/**
 * Per item, its verdict; with the decoded bytes sent back, its plain bytes: those in `raw`,
 * or the item's own where `ownRaw` gives them (a raw chunk's are its payload).
 */
function verifications(r: CpuResult, ownRaw: (i: number) => Buffer | undefined): Verification[] {
  let offset = 0;
  const decoded = r.raw && asBuffer(r.raw);
  return r.digests.map((digest, i) => {
    const error = r.errors[i];
    if (error) return { error };
    const rawLength = r.rawLengths[i] as number;
    if (!decoded) return { digest: digest as Digest, rawLength };
    const own = ownRaw(i);
    if (own) return { digest: digest as Digest, rawLength, raw: own };
    const raw = decoded.subarray(offset, offset + rawLength);
    offset += rawLength;
    return { digest: digest as Digest, rawLength, raw };
  });
}

/** Per item of an undelta with `store`, its verdict and stored form, cut from `raw` in item order. */
function storedForms(r: CpuResult): Verification[] {
  const lengths = r.storedLengths;
  if (!r.raw || !lengths) throw new Error('undelta with store: no stored forms came back');
  const all = asBuffer(r.raw);
  let offset = 0;
  let k = 0;
  return r.digests.map((digest, i) => {
    const error = r.errors[i];
    if (error) return { error };
    const n = lengths[k] as number;
    const encoding = r.encodings?.[k++] === 1 ? 'zstd' : 'raw';
    const payload = all.subarray(offset, offset + n);
    offset += n;
    return { digest: digest as Digest, rawLength: r.rawLengths[i] as number, stored: { encoding, payload } };
  });
}

/** Per chunk of an encode, its stored form: a zstd payload cut from `raw`, else the chunk itself. */
function encodedForms(r: CpuResult, piece: readonly Uint8Array[]): EncodedChunk[] {
  const all = asBuffer(r.raw ?? new Uint8Array(0));
  let offset = 0;
  return piece.map((chunk, i) => {
    if (r.encodings?.[i] !== 1) return { encoding: 'raw', payload: asBuffer(chunk) };
    const at = offset;
    offset += r.storedLengths?.[i] as number;
    return { encoding: 'zstd', payload: all.subarray(at, offset) };
  });
}

/** The items back to back in `raw` (a length of -1: none for that item). */
function backToBackItems(r: CpuResult): (Buffer | undefined)[] {
  const all = asBuffer(r.raw as Uint8Array);
  let offset = 0;
  return r.rawLengths.map((n) => {
    if (n < 0) return undefined;
    offset += n;
    return all.subarray(offset - n, offset);
  });
}

function deltas(r: CpuResult): (MadeDelta | undefined)[] {
  return backToBackItems(r).map((payload, i) =>
    payload ? { payload, patch: r.forms?.[i] === 1 } : undefined,
  );
}

/** Where any pair has zstd parts: every part's length and encoding, for the worker to decode. */
function encodedParts(piece: readonly { reference: Reference; zstd?: readonly boolean[] }[]): {
  partLengths?: number[];
  encodings?: number[];
} {
  if (!piece.some((p) => p.zstd?.includes(true))) return {};
  // Per pair: its first item (a target, or a delta), then each part of its reference.
  const flags = (p: (typeof piece)[number]) =>
    Array.from({ length: 1 + partsOf(p.reference).length }, (_, i) => (p.zstd?.[i] ? 1 : 0));
  return {
    partLengths: piece.flatMap((p) => partsOf(p.reference).map((r) => r.length)),
    encodings: piece.flatMap(flags),
  };
}

/** Per pair, 1 for a patch, 2 for an aligned patch first; left out when every pair is plain zstd. */
function formsOf(piece: readonly { readonly patch?: boolean; readonly aligned?: boolean }[]): {
  forms?: number[];
} {
  const forms = piece.map((p) => (p.patch ? 1 : p.aligned ? 2 : 0));
  return forms.some((f) => f !== 0) ? { forms } : {};
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

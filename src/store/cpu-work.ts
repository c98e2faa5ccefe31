import { createHash, type Hash } from 'node:crypto';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { decodeRoot } from '../core/manifest-v2.js';
import { type CheckedManifest, checkManifestV2 } from '../core/manifest-v2-check.js';
import type { EncodedChunk } from './chunk-store.js';
import { encodeChunkSync } from './compression.js';
import { decodeDelta, encodeDelta } from './delta-codec.js';
import { alignedPatch, applyPatch, blockSignatures, encodePatch } from './patch-codec.js';
import { zstdUnframeSync } from './zstd-sync.js';

/**
 * The CPU-heavy work on chunks, as plain functions over one buffer that holds a batch back
 * to back: what the pool's workers run (cpu-worker.ts), and what runs in-thread where no
 * compiled worker exists (tests from TypeScript sources). Same results either way.
 */

export interface CpuJob {
  readonly op: 'hash' | 'verify' | 'stream' | 'delta' | 'undelta' | 'sign' | 'manifest' | 'encode';
  /**
   * Per item, its length. delta and undelta take their items in pairs: the target (or the
   * delta) then its reference, so a pair is two items and the rest of the layout is as for hash.
   */
  readonly lengths: readonly number[];
  /** delta, undelta: per pair, 1 where it is a patch (its reference: signatures to encode, bytes to decode). */
  readonly forms?: readonly number[];
  /**
   * verify: 0 raw, 1 zstd per item. delta and undelta with `partLengths`: the same per part,
   * each pair's first item and then its reference's parts, which the worker decodes first.
   */
  readonly encodings?: readonly number[];
  /** delta, undelta: per pair, the lengths of its reference's parts, when they are to be decoded first. */
  readonly partLengths?: readonly number[];
  /** verify, undelta: decoding stops past this many bytes (a zstd bomb costs nothing). */
  readonly maxRaw?: number;
  /** verify: send the bytes zstd decoded back, back to back in `raw` (raw items have theirs). */
  readonly keepRaw?: boolean;
  /**
   * undelta: answer each decoded chunk in the form the store keeps (encodeChunk), not its
   * plain bytes: the payloads back to back in `raw`, their lengths in `storedLengths`, their
   * encodings (0 raw, 1 zstd) in `encodings`. The receiver then stores them as they are,
   * and the zstd stream calls run on this thread instead of the event loop.
   */
  readonly store?: boolean;
  /** stream: which running SHA-256 the bytes continue (one item, in the order sent). */
  readonly stream?: number;
  /** stream: the last bytes; the digest comes back and the stream is gone. */
  readonly end?: boolean;
  /** stream: the bytes stay unchanged until the answer, so they may be hashed where they lie. */
  readonly lent?: boolean;
  /** manifest: entry table parts known canonical (checkManifestV2); the items are the root, then its parts. */
  readonly canonical?: readonly string[];
}

export interface CpuTask extends CpuJob {
  readonly bytes: Uint8Array;
  /** Where each item starts in `bytes`; without it the items lie back to back from 0. */
  readonly offsets?: readonly number[] | undefined;
}

export interface CpuResult {
  readonly digests: string[];
  /** Per item, the decoded length; delta: per pair, the delta's length, or -1 (not worth it). */
  readonly rawLengths: number[];
  /** Per item: why it could not be decoded, or null. */
  readonly errors: (string | null)[];
  readonly raw?: Uint8Array;
  /** delta: per pair, 1 where what it made is a patch. */
  readonly forms?: number[];
  /** manifest: its tallies; where it fails its check, errors[0] is the error's JSON. */
  readonly manifest?: CheckedManifest;
  /** undelta with `store`, encode: per item, its stored payload's length and encoding (0 raw, 1 zstd). */
  readonly storedLengths?: number[];
  readonly encodings?: number[];
}

export async function runCpuTask(t: CpuTask): Promise<CpuResult> {
  // Before any await: a worker runs the updates of one stream in the order they came.
  if (t.op === 'stream') return streamStep(t);
  if (t.op === 'delta') return deltaStep(t);
  if (t.op === 'undelta') return undeltaStep(t);
  if (t.op === 'sign') return signStep(t);
  if (t.op === 'manifest') return manifestStep(t);
  if (t.op === 'encode') return encodeStep(t);
  const digests: string[] = [];
  const rawLengths: number[] = [];
  const errors: (string | null)[] = [];
  const raws: Uint8Array[] = [];
  for (const [i, item] of items(t).entries()) {
    let raw: Uint8Array = item;
    const decoded = t.op === 'verify' && t.encodings?.[i] === 1;
    if (decoded) {
      try {
        raw = zstdUnframeSync(item, t.maxRaw ?? 2 ** 24, !t.keepRaw);
      } catch (err) {
        digests.push('');
        rawLengths.push(0);
        errors.push(undecodable(err));
        continue;
      }
    }
    digests.push(createHash('sha256').update(raw).digest('hex'));
    rawLengths.push(raw.length);
    errors.push(null);
    if (t.keepRaw && decoded) raws.push(raw);
  }
  if (!t.keepRaw) return { digests, rawLengths, errors };
  return { digests, rawLengths, errors, raw: backToBack(raws) };
}

function undecodable(err: unknown): string {
  return `undecodable: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * A delta saving less than this part of the target is not sent: the receiver then reads and
 * decodes a reference for little gain, the frame carries the reference's digest too, and
 * plain zstd (which needs no reference) often gets most of that saving on its own.
 */
const DELTA_MIN_SAVING = 1 / 8;

/**
 * An aligned patch at most this part of its target is sent as it is; a larger one gives way
 * to a zstd delta, which also finds bytes that moved. For a chunk rewritten in place the
 * patch is about the zstd delta's size at a small part of its cost (zstd loads its
 * dictionary into fresh match tables on every call).
 */
const ALIGNED_ENOUGH = 1 / 8;

/** Per pair, the delta of its target against its reference, back to back in `raw`. */
function deltaStep(t: CpuTask): CpuResult {
  const [targets, references] = plainPairs(t);
  const rawLengths: number[] = [];
  const forms: number[] = [];
  const deltas: Uint8Array[] = [];
  for (const [i, target] of targets.entries()) {
    const { bytes, patch } = deltaOf(target, references[i] as Buffer, t.forms?.[i] ?? 0);
    const worth = bytes.length <= target.length * (1 - DELTA_MIN_SAVING);
    rawLengths.push(worth ? bytes.length : -1);
    forms.push(patch ? 1 : 0);
    if (worth) deltas.push(bytes);
  }
  return { digests: [], rawLengths, errors: [], raw: backToBack(deltas), forms };
}

/** Form 1: a patch against signatures; 2: an aligned patch if small enough, else as 0: zstd. */
function deltaOf(target: Buffer, reference: Buffer, form: number): { bytes: Uint8Array; patch: boolean } {
  if (form === 1) return { bytes: encodePatch(target, reference), patch: true };
  if (form === 2) {
    const patch = alignedPatch(target, reference);
    if (patch.length <= target.length * ALIGNED_ENOUGH) return { bytes: patch, patch: true };
  }
  return { bytes: encodeDelta(target, reference), patch: false };
}

/**
 * A delta or undelta job's pairs as plain bytes: with `partLengths`, each zstd part
 * (`encodings`) decoded here (a frame at most 16 MiB: the chunk bound), and a reference's
 * parts joined. Both ends lend their stored forms as they are, so their event loops neither
 * decode them nor hold their plain bytes.
 */
function plainPairs(t: CpuTask): [Buffer[], Buffer[]] {
  const [targets, references] = pairs(t);
  if (!t.partLengths) return [targets, references];
  const encodings = t.encodings ?? [];
  const partLengths = t.partLengths ?? [];
  const plain = (b: Buffer, e: number | undefined) => (e === 1 ? zstdUnframeSync(b, 2 ** 24) : b);
  let e = 0;
  let p = 0;
  const plainTargets: Buffer[] = [];
  const plainReferences: Buffer[] = [];
  for (const [i, target] of targets.entries()) {
    const reference = references[i] as Buffer;
    const parts: Buffer[] = [];
    for (let at = 0; at < reference.length; ) {
      const n = partLengths[p++] as number;
      parts.push(reference.subarray(at, at + n));
      at += n;
    }
    const flags = encodings.slice(e + 1, e + 1 + parts.length);
    plainTargets.push(plain(target, encodings[e]));
    e += 1 + parts.length;
    // Raw parts already lie back to back: joined only where one had to be decoded.
    if (!flags.includes(1)) plainReferences.push(reference);
    else {
      const decoded = parts.map((part, k) => plain(part, flags[k]));
      plainReferences.push(decoded.length === 1 ? (decoded[0] as Buffer) : Buffer.concat(decoded));
    }
  }
  return [plainTargets, plainReferences];
}

/** Per pair, the delta decoded against its reference and hashed; the bytes back to back in `raw`. */
function undeltaStep(t: CpuTask): CpuResult {
  const [deltas, references] = plainPairs(t);
  const result: CpuResult = { digests: [], rawLengths: [], errors: [] };
  const raws: Buffer[] = [];
  for (const [i, delta] of deltas.entries()) {
    let raw: Buffer;
    try {
      const reference = references[i] as Buffer;
      const maxRaw = t.maxRaw ?? 2 ** 24;
      raw = t.forms?.[i] === 1 ? applyPatch(delta, reference, maxRaw) : decodeDelta(delta, reference, maxRaw);
    } catch (err) {
      result.digests.push('');
      result.rawLengths.push(0);
      result.errors.push(undecodable(err));
      continue;
    }
    result.digests.push(createHash('sha256').update(raw).digest('hex'));
    result.rawLengths.push(raw.length);
    result.errors.push(null);
    raws.push(raw);
  }
  if (!t.store) return { ...result, raw: backToBack(raws) };
  return { ...result, ...storedAnswer(raws.map(encodeChunkSync), true) };
}

function encodeStep(t: CpuTask): CpuResult {
  return { digests: [], rawLengths: [], errors: [], ...storedAnswer(items(t).map(encodeChunkSync), false) };
}

/**
 * Chunks in the form the store keeps: each one's payload length and encoding, and the
 * payloads back to back in `raw`; with `withRaw` false only the zstd ones (the caller holds
 * the raw ones already: encode).
 */
function storedAnswer(
  stored: readonly EncodedChunk[],
  withRaw: boolean,
): Pick<CpuResult, 'raw' | 'storedLengths' | 'encodings'> {
  const sent = withRaw ? stored : stored.filter((c) => c.encoding === 'zstd');
  return {
    raw: backToBack(sent.map((c) => c.payload)),
    storedLengths: stored.map((c) => c.payload.length),
    encodings: stored.map((c) => (c.encoding === 'zstd' ? 1 : 0)),
  };
}

/** Per item, its block signatures, back to back in `raw` (their lengths in rawLengths). */
function signStep(t: CpuTask): CpuResult {
  const signatures = items(t).map(blockSignatures);
  return {
    digests: [],
    rawLengths: signatures.map((s) => s.length),
    errors: [],
    raw: backToBack(signatures),
  };
}

/** The task's items taken in pairs: the firsts and the seconds. */
function pairs(t: CpuTask): [Buffer[], Buffer[]] {
  const all = items(t);
  return [all.filter((_, i) => i % 2 === 0), all.filter((_, i) => i % 2 === 1)];
}

/** The task's items: back to back in `bytes`, or at `offsets` in it. */
function items(t: CpuTask): Buffer[] {
  const bytes = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  let offset = 0;
  return t.lengths.map((n, i) => {
    const at = t.offsets ? (t.offsets[i] as number) : offset;
    offset = at + n;
    return bytes.subarray(at, at + n);
  });
}

/** The running hashes of this thread's streams (one worker holds each stream, see cpu-pool.ts). */
const streams = new Map<number, Hash>();

function streamStep(t: CpuTask): CpuResult {
  const id = t.stream as number;
  let h = streams.get(id);
  if (!h) {
    h = createHash('sha256');
    streams.set(id, h);
  }
  for (const item of items(t)) h.update(item);
  if (!t.end) return { digests: [], rawLengths: [], errors: [] };
  streams.delete(id);
  return { digests: [h.digest('hex')], rawLengths: [], errors: [] };
}

/** A version 2 manifest checked whole (checkManifestV2): the root, then its parts. */
function manifestStep(t: CpuTask): CpuResult {
  const [root, ...parts] = items(t);
  try {
    const decoded = decodeRoot(Buffer.from(root as Buffer));
    if (decoded.version !== 2) throw new IngotError('INVALID_MANIFEST', 'not a version 2 root');
    const canonical = new Set((t.canonical ?? []) as Digest[]);
    return {
      digests: [],
      rawLengths: [],
      errors: [null],
      manifest: checkManifestV2(decoded.root, parts, canonical),
    };
  } catch (err) {
    const body = err instanceof IngotError ? err.toJSON() : { code: 'INTERNAL', message: String(err) };
    return { digests: [], rawLengths: [], errors: [JSON.stringify(body)] };
  }
}

/** A buffer of its own (never a slice of Node's shared pool), so it can be transferred. */
export function backToBack(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

import { IngotError } from '../core/errors.js';
import type { EncodedChunk } from './chunk-store.js';
import { checkZstdBound } from './zstd-bound.js';
import { zstdFrame, zstdUnframe } from './zstd-lanes.js';
import { zstdFrameSync } from './zstd-sync.js';

/**
 * The one transform between a chunk's plain bytes and its stored/wire form.
 *
 * zstd is node:zlib's (libzstd inside Node), through a few long-lived streams
 * (zstd-lanes.ts, which says why); they run on libuv's thread pool, so keeping several
 * chunks in flight (e.g. via mapConcurrent) compresses on several cores.
 *
 * Choices, measured on this machine (2 vCPU VM, noisy) with 64 KiB-average chunks of a
 * 128 MiB corpus of /usr/bin, /usr/lib and JavaScript:
 *   - Level 2. Level 3 (zstd's default, and the store's level before 0.2) gave ratio 0.44
 *     at 56 MB/s with one chunk in flight; on a 1.4 GB corpus of /usr/bin, /usr/lib and
 *     node_modules in 88 KiB chunks, one core: level 3 0.408 at 243 MB/s, level 2 0.415
 *     at 321 MB/s, level 1 0.431 at 339 MB/s. Level 2 stores 1.7% more for 1.3x the speed,
 *     and a receiver re-encodes every chunk a delta decodes to (docs/benchmarks.md, "The
 *     store's zstd level"). Frames of any level decode alike.
 *   - Raw when zstd saves less than 1/16 of the bytes: decoding costs more than it saves.
 *   - Pre-check: a byte-entropy estimate over a 4 KiB sample (16 slices of 256 bytes spread
 *     over the chunk) costs a few us in JS; above 7.8 bits/byte (random data scores ~7.95)
 *     the chunk is stored raw without calling zstd. Random data: ~0.9 GB/s with the check
 *     versus ~0.45-0.55 GB/s through zstd; on the corpus no chunk was flagged, so it costs
 *     no ratio there. A 4 KiB zstd sample instead costs a thread-pool round trip (~80 us)
 *     per chunk, half of compressing the whole random chunk, so it was not used.
 */

const MIN_SAVING_SHIFT = 4; // 1/16
const ENTROPY_SKIP_BITS = 7.8;
const SAMPLE_SLICES = 16;
const SLICE = 256;

export async function encodeChunk(raw: Buffer): Promise<EncodedChunk> {
  return worthTrying(raw) ? chosen(raw, await zstdFrame(raw)) : { encoding: 'raw', payload: raw };
}

/** encodeChunk on the calling thread: for the CPU pool's workers (zstd-sync.ts says why). */
export function encodeChunkSync(raw: Buffer): EncodedChunk {
  return worthTrying(raw) ? chosen(raw, zstdFrameSync(raw)) : { encoding: 'raw', payload: raw };
}

function worthTrying(raw: Buffer): boolean {
  return raw.length >= 64 && !looksIncompressible(raw);
}

function chosen(raw: Buffer, z: Buffer): EncodedChunk {
  if (z.length > raw.length - (raw.length >>> MIN_SAVING_SHIFT)) return { encoding: 'raw', payload: raw };
  return { encoding: 'zstd', payload: z };
}

/**
 * The plain bytes of an encoded chunk. With `expectedLength`, a different length is CORRUPT
 * (callers hash afterwards, but the length check catches a truncated payload early).
 */
/** Chunks never exceed 16 MiB. */
const MAX_DECODED = 16 * 1024 * 1024;

export async function decodeChunk(c: EncodedChunk, expectedLength?: number): Promise<Buffer> {
  let raw: Buffer;
  if (c.encoding === 'raw') raw = c.payload;
  else if (c.encoding === 'zstd') {
    // A frame need not state its content size: bound it from the block headers first
    // (cheap), then let zlib stop at the bound too.
    const limit = checkZstdBound(c.payload, MAX_DECODED, 'a zstd chunk payload');
    try {
      raw = await zstdUnframe(c.payload, limit);
    } catch (cause) {
      throw new IngotError('CORRUPT', 'a zstd chunk payload does not decompress', { cause });
    }
  } else {
    throw new IngotError('CORRUPT', `unknown chunk encoding ${JSON.stringify(c.encoding)}`);
  }
  if (expectedLength !== undefined && raw.length !== expectedLength) {
    throw new IngotError('CORRUPT', `a chunk decoded to ${raw.length} bytes, expected ${expectedLength}`, {
      details: { expected: expectedLength, found: raw.length },
    });
  }
  return raw;
}

const counts = new Uint32Array(256);
const LOG2 = new Float64Array(SAMPLE_SLICES * SLICE + 1).map((_, i) => (i === 0 ? 0 : Math.log2(i)));

/** Shannon entropy (bits per byte) of a spread-out sample, compared with a threshold. */
export function looksIncompressible(raw: Buffer): boolean {
  if (raw.length < SAMPLE_SLICES * SLICE * 2) return false;
  counts.fill(0);
  const step = Math.floor((raw.length - SLICE) / (SAMPLE_SLICES - 1));
  for (let s = 0; s < SAMPLE_SLICES; s++) {
    const from = s * step;
    for (let i = from; i < from + SLICE; i++) counts[raw[i] as number]!++;
  }
  const n = SAMPLE_SLICES * SLICE;
  let sum = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b] as number;
    if (c > 0) sum += c * (LOG2[c] as number);
  }
  const entropy = Math.log2(n) - sum / n;
  return entropy > ENTROPY_SKIP_BITS;
}

// A chunk encoded against a similar chunk the receiver already holds: one zstd frame made
// with the reference chunk as a raw-content dictionary. A few changed KiB in a 64 KiB chunk
// cost about that many bytes instead of the whole chunk (measured: one rewritten 4 KiB block
// of a 64 KiB random chunk gives a 4.1 KiB delta against 64 KiB whole).
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { IngotError } from '../core/errors.js';
import { checkZstdBound } from './zstd-bound.js';

/** Level 3, as for whole chunks (compression.ts): the same speed, and a dictionary costs little more. */
const LEVEL = 3;

/** `target` as a delta against `reference`. Synchronous: it runs on a CPU worker. */
export function encodeDelta(target: Uint8Array, reference: Uint8Array): Buffer {
  return zstdCompressSync(target, {
    params: { [constants.ZSTD_c_compressionLevel]: LEVEL, [constants.ZSTD_c_checksumFlag]: 0 },
    dictionary: reference,
  });
}

/**
 * The bytes a delta stands for. A delta that may decode past `maxRaw` (a delta bomb) is
 * PAYLOAD_TOO_LARGE before any work; one that does not decode against this reference is
 * CORRUPT. The caller still checks the SHA-256 of the result: a delta made against another
 * reference can decode to other bytes without an error.
 */
export function decodeDelta(delta: Buffer, reference: Uint8Array, maxRaw: number): Buffer {
  const limit = checkZstdBound(delta, maxRaw, 'a delta chunk payload');
  let raw: Buffer;
  try {
    raw = zstdDecompressSync(delta, { dictionary: reference, maxOutputLength: limit });
  } catch (cause) {
    throw new IngotError('CORRUPT', 'a delta chunk payload does not decode against its reference', { cause });
  }
  if (raw.length > maxRaw) {
    throw new IngotError('PAYLOAD_TOO_LARGE', `a delta chunk decoded to ${raw.length} bytes, past ${maxRaw}`);
  }
  return raw;
}

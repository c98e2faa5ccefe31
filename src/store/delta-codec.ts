// A chunk encoded against similar chunks the receiver already holds: one zstd frame made
// with the reference chunks, back to back, as a raw-content dictionary (the caller joins
// them; see the reference rule in delta-references.ts). A few changed KiB in a 64 KiB chunk
// cost about that many bytes instead of the whole chunk (measured: one rewritten 4 KiB block
// of a 64 KiB random chunk gives a 4.1 KiB delta against 64 KiB whole).
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { IngotError } from '../core/errors.js';
import { checkZstdBound } from './zstd-bound.js';

/** Level 3, as for whole chunks (compression.ts); with the tables sized below, level 1 is no faster. */
const LEVEL = 3;

/**
 * `target` as a delta against `reference`. Synchronous: it runs on a CPU worker. The window
 * covers the whole dictionary and the target: zstd sizes it from the target alone, and a
 * dictionary of three chunks then reaches past it, its first bytes out of every match's
 * reach. The match tables are sized to that window, an eighth and a sixteenth of it, not
 * level 3's fixed 2^17 and 2^16 entries: zstd clears and fills them on every call, which for
 * a 64 KiB chunk against 192 KiB cost 760 µs; sized so, 290 µs, with the benchmark file's
 * deltas unchanged (18.5 MiB; a sixteenth and a thirty-second gave 27.3 MiB).
 */
export function encodeDelta(target: Uint8Array, reference: Uint8Array): Buffer {
  const windowLog = Math.min(
    MAX_WINDOW_LOG,
    Math.max(10, Math.ceil(Math.log2(reference.length + target.length))),
  );
  return zstdCompressSync(target, {
    params: {
      [constants.ZSTD_c_compressionLevel]: LEVEL,
      [constants.ZSTD_c_checksumFlag]: 0,
      [constants.ZSTD_c_windowLog]: windowLog,
      [constants.ZSTD_c_hashLog]: Math.min(17, windowLog - 3),
      [constants.ZSTD_c_chainLog]: Math.min(16, windowLog - 4),
    },
    dictionary: reference,
  });
}

/** A decoder's default limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT): three 16 MiB chunks and one more fit. */
const MAX_WINDOW_LOG = 27;

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
    // One output buffer of the bound (a chunk's size), not 16 KiB pieces joined: 49 -> 33 µs a
    // 64 KiB delta. At most 1 MiB up front, whatever a frame claims.
    const chunkSize = Math.max(64, Math.min(limit, 2 ** 20));
    raw = zstdDecompressSync(delta, { dictionary: reference, maxOutputLength: limit, chunkSize });
  } catch (cause) {
    throw new IngotError('CORRUPT', 'a delta chunk payload does not decode against its reference', { cause });
  }
  if (raw.length > maxRaw) {
    throw new IngotError('PAYLOAD_TOO_LARGE', `a delta chunk decoded to ${raw.length} bytes, past ${maxRaw}`);
  }
  return raw;
}

/** Bounding what a zstd payload may decode to, before spending memory on it. */
import { IngotError } from '../core/errors.js';

const ZSTD_MAGIC = 0xfd2fb528;
export const ZSTD_BLOCK_MAX = 128 * 1024;

/**
 * An upper bound of what a sequence of zstd frames decodes to, from the frame and block
 * headers alone (RFC 8878): raw and RLE blocks state their size; a compressed block
 * decodes to at most 128 KiB. Skippable frames count 0. Undefined when malformed.
 */
export function zstdDecodedBound(b: Buffer): number | undefined {
  let pos = 0;
  let bound = 0;
  if (b.length === 0) return undefined;
  while (pos < b.length) {
    if (pos + 4 > b.length) return undefined;
    const magic = b.readUInt32LE(pos);
    pos += 4;
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (pos + 4 > b.length) return undefined;
      pos += 4 + b.readUInt32LE(pos);
      if (pos > b.length) return undefined;
      continue;
    }
    if (magic !== ZSTD_MAGIC || pos >= b.length) return undefined;
    const fhd = b[pos++] as number;
    const fcsFlag = fhd >> 6;
    const singleSegment = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    const didSize = [0, 1, 2, 4][fhd & 3] as number;
    const fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag] as number;
    pos += (singleSegment ? 0 : 1) + didSize + fcsSize;
    for (;;) {
      if (pos + 3 > b.length) return undefined;
      const h = b.readUIntLE(pos, 3);
      pos += 3;
      const last = h & 1;
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      if (type === 0) {
        bound += size;
        pos += size;
      } else if (type === 1) {
        bound += size;
        pos += 1;
      } else if (type === 2) {
        bound += ZSTD_BLOCK_MAX;
        pos += size;
      } else return undefined;
      if (pos > b.length) return undefined;
      if (last) break;
    }
    pos += checksum ? 4 : 0;
    if (pos > b.length) return undefined;
  }
  return bound;
}

/** The content size the first frame's header states, if it states one. */
export function frameContentSize(b: Buffer): number | undefined {
  if (b.length < 6 || b.readUInt32LE(0) !== ZSTD_MAGIC) return undefined;
  const fhd = b[4] as number;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const at = 5 + (singleSegment ? 0 : 1) + ([0, 1, 2, 4][fhd & 3] as number);
  if (fcsFlag === 0) return singleSegment && at < b.length ? (b[at] as number) : undefined;
  if (fcsFlag === 1) return at + 2 <= b.length ? b.readUInt16LE(at) + 256 : undefined;
  if (fcsFlag === 2) return at + 4 <= b.length ? b.readUInt32LE(at) : undefined;
  return at + 8 <= b.length ? Number(b.readBigUInt64LE(at)) : undefined;
}

/**
 * Refuses, before any decoding, a payload that is malformed (CORRUPT) or whose headers allow
 * more than `maxRaw` bytes (PAYLOAD_TOO_LARGE: a tiny frame may claim gigabytes). Returns the
 * output limit to give the decoder: the bound may overshoot by one compressed block.
 */
export function checkZstdBound(payload: Buffer, maxRaw: number, what: string): number {
  const bound = zstdDecodedBound(payload);
  if (bound === undefined) throw new IngotError('CORRUPT', `${what} is malformed`);
  const limit = maxRaw + ZSTD_BLOCK_MAX;
  if (bound > limit) throw new IngotError('PAYLOAD_TOO_LARGE', `${what} may decode to ${bound} bytes`);
  return limit;
}

import type { FileHandle } from 'node:fs/promises';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { ChunkEncoding, EncodedChunk } from './chunk-store.js';
import { decodeChunk } from './compression.js';
import { sha256Hex } from './digest.js';
import { ZSTD_BLOCK_MAX, zstdDecodedBound } from './zstd-bound.js';

export { zstdDecodedBound };

import { encodingName, isInvalid, MAX_PAYLOAD_LENGTH, MAX_RAW_LENGTH, readRecord } from './pack-file.js';
import type { ChunkRow } from './pack-index.js';

/**
 * Checking an encoded chunk against its digest, shared by the pack store's write path,
 * read path, recovery scan and compaction.
 */

export type Verified =
  | { readonly ok: true; readonly raw: Buffer }
  | { readonly ok: false; readonly found: string; readonly reason: 'mismatch' | 'too-large' | 'undecodable' };

/**
 * Decodes and hashes `chunk`. Not ok (with what was found instead, for `rejected` or an
 * error's details) when the digest differs, the payload does not decode, or it is, or
 * would decode to, more than MAX_RAW_LENGTH bytes; a zstd payload's decoded size is bounded
 * from its block headers before it is decompressed, so a small payload cannot make the
 * store allocate gigabytes. With `rawLength`, a different decoded length is not ok either.
 */
export async function verifyEncoded(
  digest: string,
  chunk: EncodedChunk,
  rawLength?: number,
): Promise<Verified> {
  const { payload } = chunk;
  if (payload.length > MAX_PAYLOAD_LENGTH)
    return { ok: false, found: `payload of ${payload.length} bytes`, reason: 'too-large' };
  if (chunk.encoding === 'zstd') {
    const bound = zstdDecodedBound(payload);
    if (bound === undefined) return { ok: false, found: 'malformed zstd frame', reason: 'undecodable' };
    if (bound > MAX_RAW_LENGTH + ZSTD_BLOCK_MAX) {
      return { ok: false, found: `zstd payload of up to ${bound} bytes`, reason: 'too-large' };
    }
  } else if (!isEncoding(chunk.encoding)) {
    return { ok: false, found: `unknown encoding ${String(chunk.encoding)}`, reason: 'undecodable' };
  }
  let raw: Buffer;
  try {
    raw = await decodeChunk(chunk, rawLength);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, found: `undecodable: ${message}`, reason: 'undecodable' };
  }
  if (raw.length > MAX_RAW_LENGTH) return { ok: false, found: `${raw.length} bytes`, reason: 'too-large' };
  const found = await sha256Hex(raw);
  return found === digest ? { ok: true, raw } : { ok: false, found, reason: 'mismatch' };
}

function isEncoding(e: unknown): e is ChunkEncoding {
  return e === 'raw' || e === 'zstd';
}

/** Reads the record a row points at and checks it: CORRUPT with expected/found if not. */
export async function readVerified(
  fh: FileHandle,
  digest: Digest,
  row: ChunkRow,
): Promise<EncodedChunk & { readonly raw: Buffer }> {
  const rec = await readRecord(fh, row.offset, row.length);
  if (isInvalid(rec)) throw corruptChunk(digest, row, rec.invalid);
  if (!rec.header.digest.equals(row.digest)) {
    throw corruptChunk(digest, row, 'the record holds another chunk', rec.header.digest.toString('hex'));
  }
  const encoding = encodingName(row.encoding);
  if (!encoding || rec.header.encoding !== row.encoding) throw corruptChunk(digest, row, 'encoding differs');
  const v = await verifyEncoded(digest, { encoding, payload: rec.payload }, row.rawLength);
  if (!v.ok) throw corruptChunk(digest, row, 'the bytes do not match the digest', v.found);
  return { encoding, payload: rec.payload, raw: v.raw };
}

export function corruptChunk(expected: Digest, row: ChunkRow, reason: string, found?: string): IngotError {
  return new IngotError('CORRUPT', `chunk ${expected} failed verification: ${reason}`, {
    details: { expected, found: found ?? null, pack: row.pack, offset: row.offset, reason },
  });
}

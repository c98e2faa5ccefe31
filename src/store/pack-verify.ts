import type { FileHandle } from 'node:fs/promises';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { ChunkEncoding, EncodedChunk } from './chunk-store.js';
import { cpuPool, type Verification } from './cpu-pool.js';
import { ZSTD_BLOCK_MAX, zstdDecodedBound } from './zstd-bound.js';

export { zstdDecodedBound };

import {
  encodingName,
  isInvalid,
  MAX_PAYLOAD_LENGTH,
  MAX_RAW_LENGTH,
  type PackRecord,
  readRecord,
} from './pack-file.js';
import type { ChunkRow } from './pack-index.js';

/**
 * Checking an encoded chunk against its digest, shared by the pack store's write path,
 * read path, recovery scan and compaction.
 */

export type Verified =
  | { readonly ok: true; readonly raw: Buffer; readonly rawLength: number }
  | { readonly ok: true; readonly raw?: undefined; readonly rawLength: number }
  | { readonly ok: false; readonly found: string; readonly reason: 'mismatch' | 'too-large' | 'undecodable' };

export interface VerifyItem {
  readonly digest: string;
  readonly chunk: EncodedChunk;
  /** When known, a different decoded length is not ok either. */
  readonly rawLength?: number;
}

/**
 * Decodes and hashes `chunk` (see verifyMany); the decoded bytes come back with it.
 */
export async function verifyEncoded(
  digest: string,
  chunk: EncodedChunk,
  rawLength?: number,
): Promise<Verified> {
  const [v] = await verifyMany([{ digest, chunk, ...(rawLength === undefined ? {} : { rawLength }) }], true);
  return v as Verified;
}

/**
 * Checks each item against its digest, in one batch on the CPU pool. Not ok (with what was
 * found instead, for `rejected` or an error's details) when the digest differs, the payload
 * does not decode, or it is, or would decode to, more than MAX_RAW_LENGTH bytes; a zstd
 * payload's decoded size is bounded from its block headers before it is decompressed, so
 * a small payload cannot make the store allocate gigabytes. With `keepRaw` the decoded
 * bytes of the good ones come back (reads); writes need only their length.
 */
export async function verifyMany(items: readonly VerifyItem[], keepRaw = false): Promise<Verified[]> {
  const out: (Verified | undefined)[] = items.map((it) => precheck(it.chunk));
  const todo = items.flatMap((_, i) => (out[i] ? [] : [i]));
  if (todo.length > 0) {
    const chunks = todo.map((i) => (items[i] as VerifyItem).chunk);
    const results = await cpuPool().verify(chunks, { maxRaw: MAX_RAW_LENGTH, keepRaw });
    todo.forEach((i, k) => {
      out[i] = judge(items[i] as VerifyItem, results[k] as Verification);
    });
  }
  return out as Verified[];
}

function precheck(chunk: EncodedChunk): Verified | undefined {
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
  return undefined;
}

function judge(item: VerifyItem, r: Verification): Verified {
  if (r.error !== undefined) return { ok: false, found: r.error, reason: 'undecodable' };
  if (r.rawLength > MAX_RAW_LENGTH) return { ok: false, found: `${r.rawLength} bytes`, reason: 'too-large' };
  if (item.rawLength !== undefined && r.rawLength !== item.rawLength) {
    return {
      ok: false,
      found: `undecodable: a chunk decoded to ${r.rawLength} bytes, expected ${item.rawLength}`,
      reason: 'undecodable',
    };
  }
  if (r.digest !== item.digest) return { ok: false, found: r.digest, reason: 'mismatch' };
  return r.raw ? { ok: true, raw: r.raw, rawLength: r.rawLength } : { ok: true, rawLength: r.rawLength };
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
  return verifyRecord(await readRecord(fh, row.offset, row.length), digest, row);
}

/** Checks a record read from wherever its pack lives against the row that points at it. */
export async function verifyRecord(
  rec: PackRecord | { invalid: string },
  digest: Digest,
  row: ChunkRow,
): Promise<EncodedChunk & { readonly raw: Buffer }> {
  if (isInvalid(rec)) throw corruptChunk(digest, row, rec.invalid);
  if (!rec.header.digest.equals(row.digest)) {
    throw corruptChunk(digest, row, 'the record holds another chunk', rec.header.digest.toString('hex'));
  }
  const encoding = encodingName(row.encoding);
  if (!encoding || rec.header.encoding !== row.encoding) throw corruptChunk(digest, row, 'encoding differs');
  const v = await verifyEncoded(digest, { encoding, payload: rec.payload }, row.rawLength);
  if (!v.ok || !v.raw)
    throw corruptChunk(digest, row, 'the bytes do not match the digest', v.ok ? '' : v.found);
  return { encoding, payload: rec.payload, raw: v.raw };
}

export function corruptChunk(expected: Digest, row: ChunkRow, reason: string, found?: string): IngotError {
  const where = `pack ${row.pack} at offset ${row.offset}`;
  return new IngotError('CORRUPT', `chunk ${expected} in ${where} failed verification: ${reason}`, {
    hint: '`ingot image verify` on the server holding that pack finds the images that name it; add them again, or pull them from another server',
    details: { expected, found: found ?? null, pack: row.pack, offset: row.offset, reason },
  });
}

export function mismatch(expected: Digest, found: string): IngotError {
  return new IngotError('DIGEST_MISMATCH', `chunk bytes do not match digest ${expected}`, {
    details: { expected, found },
  });
}

export function tooLarge(digest: Digest, found: string): IngotError {
  return new IngotError('PAYLOAD_TOO_LARGE', `chunk ${digest} is larger than ${MAX_RAW_LENGTH} bytes`, {
    details: { digest, found },
  });
}

import { IngotError } from '../core/errors.js';
import { assertDigest, type Digest } from '../core/manifest.js';
import type { EncodedChunk, HashedChunk, PutManyResult, PutOptions } from './chunk-store.js';
import { encodeChunk } from './compression.js';
import { sha256Hex } from './digest.js';
import { MAX_PAYLOAD_LENGTH, MAX_RAW_LENGTH } from './pack-file.js';
import { mismatch, tooLarge, verifyMany } from './pack-verify.js';

/**
 * The write half every store of records shares (the local pack store, a shared segment
 * store): what is checked before a chunk is written, and how a batch's results are counted.
 * Each store supplies only `append`: write these checked, distinct chunks.
 */

export interface WriteItem {
  readonly digest: Digest;
  readonly chunk: EncodedChunk;
  readonly rawLength: number;
}

export interface Refused {
  readonly digest: Digest;
  readonly found: string;
}

export interface Appended {
  readonly stored: number;
  readonly present: number;
  readonly bytes: number;
}

/** Decodes and hashes each (on the CPU pool); the ones that do not check are refused. */
export async function verifiedItems(
  items: readonly { digest: Digest; chunk: EncodedChunk }[],
): Promise<(WriteItem | Refused)[]> {
  const verdicts = await verifyMany(items);
  return items.map(({ digest, chunk }, i) => {
    const v = verdicts[i];
    if (!v) throw new IngotError('INTERNAL', 'verification lost an item');
    return v.ok ? { digest, chunk, rawLength: v.rawLength } : { digest, found: v.found };
  });
}

/** See HashedChunkWriter: the bounds are still checked, the hash is not recomputed. */
export function boundedItems(items: readonly HashedChunk[]): (WriteItem | Refused)[] {
  return items.map((it) => {
    assertDigest(it.digest);
    const fits = it.rawLength <= MAX_RAW_LENGTH && it.chunk.payload.length <= MAX_PAYLOAD_LENGTH;
    return fits ? it : { digest: it.digest, found: `${it.rawLength} bytes` };
  });
}

/** One encoded chunk, checked: DIGEST_MISMATCH or PAYLOAD_TOO_LARGE when it is not good. */
export async function verifiedItem(digest: Digest, chunk: EncodedChunk): Promise<WriteItem> {
  const [v] = await verifyMany([{ digest, chunk }]);
  if (!v) throw new IngotError('INTERNAL', 'verification lost an item');
  if (!v.ok) throw v.reason === 'too-large' ? tooLarge(digest, v.found) : mismatch(digest, v.found);
  return { digest, chunk, rawLength: v.rawLength };
}

/** Plain bytes, hashed and encoded (zstd where it pays). */
export async function hashedItem(digest: Digest, raw: Buffer): Promise<WriteItem> {
  if (raw.length > MAX_RAW_LENGTH) throw tooLarge(digest, `${raw.length} bytes`);
  const found = await sha256Hex(raw);
  if (found !== digest) throw mismatch(digest, found);
  return { digest, chunk: await encodeChunk(raw), rawLength: raw.length };
}

/** Appends each chunk once (a batch may name one twice); refused ones are only reported. */
export async function putEach(
  items: readonly (WriteItem | Refused)[],
  append: (unique: WriteItem[]) => Promise<Appended>,
): Promise<PutManyResult> {
  const rejected: Refused[] = [];
  const unique = new Map<string, WriteItem>();
  let duplicates = 0;
  for (const it of items) {
    if ('found' in it) rejected.push(it);
    else if (unique.has(it.digest)) duplicates++;
    else unique.set(it.digest, it);
  }
  const r = await append([...unique.values()]);
  return { stored: r.stored, present: r.present + duplicates, storedBytes: r.bytes, rejected };
}

/**
 * The ChunkWriter put methods over a store's `append`: each checks what it is given, then
 * appends the distinct good chunks.
 */
export abstract class RecordWrites {
  protected abstract append(items: readonly WriteItem[], onWritten?: () => void): Promise<Appended>;
  protected abstract assertOpen(): void;

  async putManyEncoded(
    items: readonly { digest: Digest; chunk: EncodedChunk }[],
    opts: PutOptions = {},
  ): Promise<PutManyResult> {
    this.assertOpen();
    return putEach(await verifiedItems(items), (unique) => this.append(unique, opts.onWritten));
  }

  /** See HashedChunkWriter: the bounds are still checked, the hash is not recomputed. */
  async putManyHashed(items: readonly HashedChunk[], opts: PutOptions = {}): Promise<PutManyResult> {
    this.assertOpen();
    return putEach(boundedItems(items), (unique) => this.append(unique, opts.onWritten));
  }

  async putEncoded(digest: Digest, chunk: EncodedChunk): Promise<number> {
    this.assertOpen();
    return (await this.append([await verifiedItem(digest, chunk)])).bytes;
  }

  async put(digest: Digest, raw: Buffer): Promise<number> {
    this.assertOpen();
    return (await this.append([await hashedItem(digest, raw)])).bytes;
  }
}

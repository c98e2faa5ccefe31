import type { ImageService } from '../../catalog/image.service.js';
import type { ImageRecord } from '../../catalog/types.js';
import { IngotError } from '../../core/errors.js';
import type { Digest } from '../../core/manifest.js';
import type { ChunkStore } from '../../store/chunk-store.js';
import { namedChunks } from '../../store/manifest-store.js';

export interface VerifyResult {
  image: string;
  digest: string;
  /** Distinct data chunks: the count `image show` gives. */
  chunks: number;
  /** Chunks that hold the manifest's own parts (a version 2 manifest), checked too. */
  parts: number;
  /** Raw bytes read back and hashed, data and parts. */
  bytes: number;
  missing: string[];
  corrupt: string[];
  /** 'unchecked': its origin is known here only through a document that vouched for it. */
  signature: 'checked' | 'unchecked';
}

/** Checks a listed image's manifest signature with its origin's key (BAD_SIGNATURE if not). */
export type SignatureCheck = (image: ImageRecord) => Promise<'checked' | 'unchecked'>;

/**
 * Checks the manifest's signature with its origin's key, then reads every chunk of the
 * image back, its manifest's parts too, and re-hashes it (the store's read path verifies).
 * A job that finds damage fails and says which chunks; success means every byte checked.
 */
export async function verifyImage(
  deps: { images: ImageService; store: ChunkStore; signature: SignatureCheck },
  imageName: string,
  progress: (done: number, total: number) => Promise<void> | void,
): Promise<VerifyResult> {
  const loaded = await deps.images.manifest(imageName);
  const { image } = loaded;
  const signature = await deps.signature(image);
  const unique = [...namedChunks(loaded).keys()];
  const result: VerifyResult = {
    image: image.name,
    digest: image.digest,
    chunks: unique.length - loaded.parts.length,
    parts: loaded.parts.length,
    bytes: 0,
    missing: [],
    corrupt: [],
    signature,
  };
  let done = 0;
  for (const digest of unique) {
    await checkOne(deps.store, digest, result);
    if (++done % 256 === 0) await progress(done, unique.length);
  }
  await progress(done, unique.length);
  const bad = result.missing.length + result.corrupt.length;
  if (bad > 0) {
    throw new IngotError(
      'CORRUPT',
      `image ${image.name}: ${result.missing.length} chunk(s) missing, ${result.corrupt.length} damaged`,
      {
        details: { missing: result.missing.slice(0, 20), corrupt: result.corrupt.slice(0, 20) },
        hint: 'restore the chunks from a peer or a bundle, or re-add the image from its source',
      },
    );
  }
  return result;
}

async function checkOne(store: ChunkStore, digest: Digest, result: VerifyResult): Promise<void> {
  try {
    result.bytes += (await store.get(digest)).length;
  } catch (err) {
    if (err instanceof IngotError && err.code === 'NOT_FOUND') result.missing.push(digest);
    else if (err instanceof IngotError && (err.code === 'CORRUPT' || err.code === 'DIGEST_MISMATCH')) {
      result.corrupt.push(digest);
    } else throw err;
  }
}

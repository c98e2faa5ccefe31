/**
 * Bundles made by hand from a real one, for tests of what an importer refuses: the same
 * frames with a chunk added or dropped, or a header whose images were re-signed by the
 * bundle's creator under another origin. Small bundles only: the chunks are held in memory.
 */

import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Digest } from '../../src/core/manifest.js';
import { manifestDigest } from '../../src/core/manifest-codec.js';
import { decodeRoot, encodeRootV2 } from '../../src/core/manifest-v2.js';
import type { SignedDocument, SigningIdentity } from '../../src/core/signatures.js';
import { loadOrCreateIdentity } from '../../src/federation/identity.js';
import { signDocument } from '../../src/federation/signed-document.js';
import type { FramedChunk, FrameEncoding } from '../../src/store/frame-codec.js';
import { writeBundle } from '../../src/transfer/bundle-format.js';
import { openBundle } from '../../src/transfer/bundle-reader.js';
import type { IngotServer } from './ingot.js';
import { tempDir } from './ingot.js';

type Chunk = FramedChunk<FrameEncoding>;
type ListedImage = Record<string, unknown> & { manifest: string };

export interface BundleEdit {
  /** Changes the frames (in order). */
  chunks?: (chunks: Chunk[]) => Chunk[];
  /** Changes the header's images; the header is then signed again with `signer`. */
  images?: (images: ListedImage[]) => ListedImage[];
  signer?: SigningIdentity;
}

/** The signing identity of a server under test, read from its home. */
export function identityOf(server: IngotServer): Promise<SigningIdentity> {
  return loadOrCreateIdentity(
    join(server.home, 'keys', 'signing.key'),
    join(server.home, 'keys', 'signing.pub'),
  );
}

/** Writes `src` again with `edit` applied, as `<new dir>/<name>.ingot`; returns its path. */
export async function rewriteBundle(src: string, name: string, edit: BundleEdit): Promise<string> {
  const bundle = await openBundle(src);
  const chunks: Chunk[] = [];
  await bundle.read(async (it) => {
    // Payloads are lent: keep copies.
    for await (const c of it) {
      chunks.push({ ...c, encoded: { ...c.encoded, payload: Buffer.from(c.encoded.payload) } } as Chunk);
    }
  });
  let document = (bundle.header as { document: SignedDocument }).document;
  if (edit.images) {
    if (!edit.signer) throw new Error('re-signing a header needs its signer');
    const body = JSON.parse(document.body) as { images: ListedImage[] };
    document = signDocument(edit.signer, 'bundle', { ...body, images: edit.images(body.images) } as never);
  }
  const dir = tempDir('ingot-forged-');
  const { files } = await writeBundle({
    dir,
    name,
    header: { document },
    chunks: edit.chunks ? edit.chunks(chunks) : chunks,
    deltas: bundle.deltas,
  });
  return files[0] as string;
}

/** A listed image under another origin, its root and the signature made again by `signer`. */
export function asOrigin(image: ListedImage, origin: string, signer: SigningIdentity): ListedImage {
  const decoded = decodeRoot(Buffer.from(image.manifest, 'base64'));
  if (decoded.version !== 2) throw new Error('expected a version 2 root');
  const root = encodeRootV2({ ...decoded.root, origin });
  const digest = manifestDigest(root) as Digest;
  const { originKey: _dropped, ...rest } = image;
  return { ...rest, origin, digest, signature: signer.signDigest(digest), manifest: root.toString('base64') };
}

/** How many chunks `server`'s store holds (its pack index, read beside the running server). */
export function storedChunks(server: IngotServer): number {
  const db = new DatabaseSync(join(server.home, 'store', 'index-v1.sqlite'), { readOnly: true });
  try {
    return Number((db.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number }).n);
  } finally {
    db.close();
  }
}

/** Small manifests for unit tests: a file image of 10-byte data chunks with the given digests. */
import type { Digest, Manifest } from '../../src/core/manifest.js';
import { encodeManifest, manifestDigest } from '../../src/core/manifest-codec.js';

export function tenByteModel(name: string, chunks: readonly Digest[], version: 1 | 2 = 1): Manifest {
  return {
    format: 'ingot-manifest',
    version,
    name,
    origin: 'HQ',
    imageType: 'DISKIMAGE',
    parent: null,
    created: '2026-12-01T00:00:00.000Z',
    payload: { kind: 'file', size: chunks.length * 10, mode: 0o644 },
    chunks: chunks.map((digest) => ({ kind: 'data' as const, digest, length: 10 })),
  };
}

/** The encoded manifest and its digest. */
export function tenByteImage(
  name: string,
  chunks: readonly Digest[],
): { name: string; digest: Digest; bytes: Buffer } {
  const bytes = encodeManifest(tenByteModel(name, chunks));
  return { name, digest: manifestDigest(bytes), bytes };
}

import { createHash } from 'node:crypto';
import { IngotError } from '../core/errors.js';
import type { Digest, Manifest } from '../core/manifest.js';
import { type DecodedRoot, partsOf } from '../core/manifest-v2.js';
import { assembleManifestV2 } from '../core/manifest-v2-check.js';
import { decodeChunk } from '../store/compression.js';
import { wholeOnly } from './delta-chunks.js';
import type { TransferSource } from './ports.js';

/**
 * The receiving half for deploy: asks the source for chunks and checks every one against
 * its digest before handing it on, so nothing unverified reaches a working copy.
 */
export function verifiedFetcher(source: TransferSource) {
  return async function* fetch(digests: Digest[]): AsyncIterable<{ digest: Digest; raw: Buffer }> {
    const expected = [...digests];
    let i = 0;
    for await (const moving of await source.fetch(digests)) {
      const chunk = wholeOnly(moving);
      const want = expected[i++];
      if (chunk.digest !== want) {
        throw new IngotError('CORRUPT', `the server sent chunk ${chunk.digest} where ${want} was asked for`);
      }
      const raw = await decodeChunk(chunk.encoded, chunk.rawLength);
      const found = createHash('sha256').update(raw).digest('hex');
      if (found !== chunk.digest) {
        throw new IngotError('DIGEST_MISMATCH', `chunk ${chunk.digest} arrived damaged`, {
          details: { expected: chunk.digest, found },
          hint: "the server's stored copy fails verification: `ingot image verify` there finds the damaged images; nothing was written in place",
        });
      }
      yield { digest: chunk.digest, raw };
    }
    if (i !== expected.length) {
      throw new IngotError('TRUNCATED', `the server sent ${i} of ${expected.length} chunks`);
    }
  };
}

/** A version 2 root made whole: its parts fetched, verified and checked against the root. */
export async function fetchWholeManifest(decoded: DecodedRoot, source: TransferSource): Promise<Manifest> {
  if (decoded.version === 1) return decoded.manifest;
  const wanted = partsOf(decoded.root).map((p) => p.digest);
  const held = new Map<Digest, Buffer>();
  // Payloads may be lent (ports.ts): keep a copy of each.
  for await (const c of verifiedFetcher(source)(wanted)) held.set(c.digest, Buffer.from(c.raw));
  return assembleManifestV2(decoded.root, (d) => held.get(d) ?? Buffer.alloc(0));
}

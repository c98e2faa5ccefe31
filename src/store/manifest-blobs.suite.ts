import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { manifestDigest } from '../core/manifest-codec.js';
import { expectCode } from './chunk-store.suite.js';
import type { ManifestBlobs } from './manifest-blobs.js';
import { ManifestStore } from './manifest-store.js';

/**
 * The one test suite of the ManifestBlobs port, run against every adapter (a directory, an
 * S3 bucket), directly and through the ManifestStore that checks digests around it.
 * `make` gives a fresh, empty store each time.
 */
export function manifestBlobsSuite(
  name: string,
  make: () => Promise<{ blobs: ManifestBlobs; cleanup(): Promise<void> }>,
): void {
  describe(`ManifestBlobs suite: ${name}`, () => {
    let blobs: ManifestBlobs;
    let cleanup: () => Promise<void>;
    // Parts of a version 2 root are the chunk store's; these manifests have none.
    const noChunks = {} as ConstructorParameters<typeof ManifestStore>[1];
    const manifests = () => new ManifestStore(blobs, noChunks);

    beforeEach(async () => {
      ({ blobs, cleanup } = await make());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('stores bytes by digest and reads them back; an absent one is absent', async () => {
      const [a, b] = [manifestBytes(), manifestBytes()];
      expect(await blobs.has(a.digest)).toBe(false);
      expect(await blobs.read(a.digest)).toBeUndefined();
      await blobs.write(a.digest, a.bytes);
      await blobs.write(b.digest, b.bytes);
      expect(await blobs.has(a.digest)).toBe(true);
      expect((await blobs.read(a.digest))?.equals(a.bytes)).toBe(true);
      expect((await blobs.read(b.digest))?.equals(b.bytes)).toBe(true);
    });

    it('takes the same manifest written twice, and at once, as one', async () => {
      const a = manifestBytes();
      await Promise.all([blobs.write(a.digest, a.bytes), blobs.write(a.digest, a.bytes)]);
      await blobs.write(a.digest, a.bytes);
      expect((await blobs.read(a.digest))?.equals(a.bytes)).toBe(true);
      expect((await listed(blobs)).map((m) => m.digest)).toEqual([a.digest]);
    });

    it('lists every stored manifest with when it was written, and removes one', async () => {
      const before = Date.now() - 5_000;
      const all = [manifestBytes(), manifestBytes(), manifestBytes()];
      for (const m of all) await blobs.write(m.digest, m.bytes);
      const seen = await listed(blobs);
      expect(seen.map((m) => m.digest)).toEqual(all.map((m) => m.digest).sort());
      for (const m of seen) expect(m.writtenMs).toBeGreaterThan(before);
      await blobs.remove(all[0]?.digest as Digest);
      await blobs.remove(all[0]?.digest as Digest);
      expect(await blobs.has(all[0]?.digest as Digest)).toBe(false);
      expect(await listed(blobs)).toHaveLength(2);
    });

    it('through ManifestStore: a mismatch is refused unwritten, damage is CORRUPT, absence NOT_FOUND', async () => {
      const a = manifestBytes();
      const other = manifestBytes();
      await expectCode(manifests().writeManifest(a.digest, other.bytes), 'DIGEST_MISMATCH');
      expect(await listed(blobs)).toEqual([]);
      await expectCode(manifests().readManifest(a.digest), 'NOT_FOUND');
      await expectCode(manifests().hasManifest('../../etc/passwd' as Digest), 'INVALID_ARGUMENT');
      // The port moves bytes unchecked, so this stands for a damaged object.
      await blobs.write(a.digest, other.bytes);
      const err = await expectCode(manifests().readManifest(a.digest), 'CORRUPT');
      expect(err.details).toMatchObject({ expected: a.digest, found: other.digest });
    });

    it('through ManifestStore: prune removes only unlisted manifests written before the cutoff', async () => {
      const [keep, old] = [manifestBytes(), manifestBytes()];
      await manifests().writeManifest(keep.digest, keep.bytes);
      await manifests().writeManifest(old.digest, old.bytes);
      const kept = new Set([keep.digest]);
      expect(await manifests().prune(kept, Date.now() - 60_000)).toBe(0);
      expect(await manifests().prune(kept, Date.now() + 60_000, { dryRun: true })).toBe(1);
      expect(await blobs.has(old.digest)).toBe(true);
      expect(await manifests().prune(kept, Date.now() + 60_000)).toBe(1);
      expect((await listed(blobs)).map((m) => m.digest)).toEqual([keep.digest]);
    });
  });
}

/** Bytes that stand for a manifest: the store checks digests, not the codec. */
export function manifestBytes(): { digest: Digest; bytes: Buffer } {
  const bytes = Buffer.from(`{"manifest":"${randomBytes(8).toString('hex')}"}`);
  const digest = manifestDigest(bytes);
  expect(digest).toBe(createHash('sha256').update(bytes).digest('hex'));
  return { digest, bytes };
}

async function listed(blobs: ManifestBlobs): Promise<{ digest: Digest; writtenMs: number }[]> {
  const out: { digest: Digest; writtenMs: number }[] = [];
  for await (const m of blobs.list()) out.push(m);
  return out.sort((x, y) => x.digest.localeCompare(y.digest));
}

import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IngotError } from '../core/errors.js';
import { type Digest, isDigest } from '../core/manifest.js';
import { manifestDigest } from '../core/manifest-codec.js';
import { writeFileAtomic } from './atomic-write.js';
import { type StorePaths, storePaths } from './paths.js';

/**
 * Canonical manifest bytes under `manifests-v1/ab/<digest>.json`, named by their SHA-256.
 * Written atomically after the digest is checked; verified again on every read. Decoding
 * (and signature checks) are the caller's business: this layer only keeps bytes intact.
 */
export class ManifestStore {
  readonly paths: StorePaths;
  private tmpReady: Promise<unknown> | undefined;

  constructor(readonly root: string) {
    this.paths = storePaths(root);
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    check(digest);
    return stat(this.paths.manifest(digest)).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
  }

  /** Stores `bytes` as manifest `digest`; DIGEST_MISMATCH before anything is written. */
  async writeManifest(digest: Digest, bytes: Buffer): Promise<void> {
    check(digest);
    const found = manifestDigest(bytes);
    if (found !== digest) {
      throw new IngotError('DIGEST_MISMATCH', `manifest bytes do not match digest ${digest}`, {
        details: { expected: digest, found },
      });
    }
    if (await this.hasManifest(digest)) return;
    this.tmpReady ??= mkdir(this.paths.tmpDir, { recursive: true });
    await this.tmpReady;
    await writeFileAtomic(this.paths.manifest(digest), this.paths.tmpDir, [bytes]);
  }

  /** The stored bytes, re-hashed: NOT_FOUND when absent, CORRUPT when damaged. */
  async readManifest(digest: Digest): Promise<Buffer> {
    check(digest);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.paths.manifest(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new IngotError('NOT_FOUND', `manifest ${digest} is not in the store`, { details: { digest } });
      }
      throw err;
    }
    const found = manifestDigest(bytes);
    if (found !== digest) {
      throw new IngotError('CORRUPT', `stored manifest ${digest} fails verification`, {
        details: { expected: digest, found },
      });
    }
    return bytes;
  }

  /**
   * Deletes leftovers of writes a crash interrupted. Call only while holding the store's
   * lock (at server start), when no write can be in flight.
   */
  async removeTempFiles(): Promise<number> {
    const names = await readdir(this.paths.tmpDir).catch(() => [] as string[]);
    await Promise.all(names.map((n) => rm(join(this.paths.tmpDir, n), { force: true })));
    return names.length;
  }

  /**
   * Removes manifests not in `keep` and last written before `cutoffMs`: a commit writes its
   * manifest before the catalog row, so a young unlisted manifest may be one in flight.
   */
  async prune(keep: ReadonlySet<string>, cutoffMs: number): Promise<number> {
    let removed = 0;
    const fanout = await readdir(this.paths.manifestsDir).catch(() => [] as string[]);
    for (const dir of fanout) {
      for (const file of await readdir(join(this.paths.manifestsDir, dir)).catch(() => [] as string[])) {
        const digest = file.replace(/\.json$/, '');
        if (!isDigest(digest) || keep.has(digest)) continue;
        const path = this.paths.manifest(digest);
        const st = await stat(path).catch(() => undefined);
        if (st && st.mtimeMs < cutoffMs) {
          await rm(path, { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

function check(d: string): asserts d is Digest {
  if (!isDigest(d)) throw new IngotError('INVALID_ARGUMENT', `not a manifest digest: ${JSON.stringify(d)}`);
}

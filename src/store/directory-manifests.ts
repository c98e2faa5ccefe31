import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, isDigest } from '../core/manifest.js';
import { writeFileAtomic } from './atomic-write.js';
import type { ManifestBlobs } from './manifest-blobs.js';
import { type StorePaths, storePaths } from './paths.js';

/**
 * Manifests as files under a store root (`manifests-v1/ab/<digest>.json`, paths.ts): the
 * local store's, or a shared directory's that every node writes. Each is written to a temp
 * file, fsynced and renamed into place, so no lock is needed.
 */
export class DirectoryManifests implements ManifestBlobs {
  private readonly paths: StorePaths;
  private tmpReady: Promise<unknown> | undefined;

  constructor(readonly root: string) {
    this.paths = storePaths(root);
  }

  has(digest: Digest): Promise<boolean> {
    return stat(this.paths.manifest(digest)).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
  }

  read(digest: Digest): Promise<Buffer | undefined> {
    return readFile(this.paths.manifest(digest)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  }

  async write(digest: Digest, bytes: Buffer): Promise<void> {
    if (await this.has(digest)) return;
    this.tmpReady ??= mkdir(this.paths.tmpDir, { recursive: true });
    await this.tmpReady;
    await writeFileAtomic(this.paths.manifest(digest), this.paths.tmpDir, [bytes]);
  }

  async *list(): AsyncGenerator<{ readonly digest: Digest; readonly writtenMs: number }> {
    const dir = this.paths.manifestsDir;
    for (const fan of await readdir(dir).catch(() => [] as string[])) {
      for (const file of await readdir(join(dir, fan)).catch(() => [] as string[])) {
        const digest = file.replace(/\.json$/, '');
        if (!isDigest(digest)) continue;
        const st = await stat(this.paths.manifest(digest)).catch(() => undefined);
        if (st) yield { digest, writtenMs: st.mtimeMs };
      }
    }
  }

  async remove(digest: Digest): Promise<void> {
    await rm(this.paths.manifest(digest), { force: true });
  }
}

import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import type { Digest } from '../core/manifest.js';
import type {
  ChunkStore,
  ChunkTally,
  EncodedChunk,
  HashedChunk,
  HashedChunkWriter,
  PutManyResult,
  PutOptions,
  StoredChunk,
  StoredChunkInfo,
} from './chunk-store.js';
import type { ManifestBlobs } from './manifest-blobs.js';
import { ManifestStore } from './manifest-store.js';
import { PackChunkStore } from './pack-chunk-store.js';
import { storePaths } from './paths.js';

/**
 * A chunk store whose writes land in a staging pack store of their own, beside the main
 * store (`store/tmp/staging-<id>/`), while reads and have/want see both: the main store's
 * chunks (a delta's references, chunks already held) and the staged ones. Nothing staged is
 * visible in the main store, so a concurrent ingest or transfer is never told a staged chunk
 * is present. `promote` then moves every staged chunk into the main store; `discard` drops
 * them all. A bundle import stages its chunks so that a refused bundle changes nothing.
 *
 * The staged chunks were verified as they were written (putManyEncoded decodes and hashes,
 * a delta is hashed once decoded), so promoting them takes the staging store's pack files
 * into a local main store as they are (same file system: a rename each), and into a shared
 * one by copying the records into its segments without hashing them again.
 */
/** A main store that can take in a whole staging store (PackChunkStore, SegmentChunkStore). */
export interface AdoptingStore extends ChunkStore {
  adoptStore(other: PackChunkStore): Promise<number>;
}

export class StagedStore implements ChunkStore, HashedChunkWriter {
  /** The main store's manifests, their parts read from either store. */
  readonly manifests: ManifestStore;

  private constructor(
    private readonly main: AdoptingStore,
    private readonly staging: PackChunkStore,
    manifests: ManifestBlobs,
    readonly dir: string,
  ) {
    this.manifests = new ManifestStore(manifests, this);
  }

  /**
   * A new, empty staging store under `stagingRoot`'s temp directory (cleared at start;
   * always a local directory, whatever the main store is), with the main store's manifests.
   */
  static async open(
    main: AdoptingStore,
    manifests: ManifestBlobs,
    stagingRoot: string,
  ): Promise<StagedStore> {
    const dir = storePaths(stagingRoot).staging(randomBytes(8).toString('hex'));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      return new StagedStore(main, await PackChunkStore.open(dir), manifests, dir);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Moves every staged chunk into the main store by handing it the staging store's pack
   * files (PackChunkStore.adoptStore: renamed, not copied), then drops the staging store.
   */
  async promote(): Promise<{ stored: number }> {
    const stored = await this.main.adoptStore(this.staging);
    await this.discard();
    return { stored };
  }

  /** Drops every staged chunk: the main store is as it was. Safe to call again. */
  async discard(): Promise<void> {
    await this.staging.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The digests staged so far. */
  async *staged(): AsyncGenerator<Digest> {
    for await (const info of this.staging.list()) yield info.digest;
  }

  // ---- reads: both stores, the staged one first -----------------------------------

  async has(digest: Digest): Promise<boolean> {
    return (await this.staging.has(digest)) || this.main.has(digest);
  }

  async *readStored(
    digests: readonly Digest[],
    opts?: { readonly lend?: boolean },
  ): AsyncGenerator<StoredChunk> {
    const staged = await this.staging.statMany(digests);
    // Runs of chunks held in the same store are read in one call, in the order asked.
    let run: Digest[] = [];
    let inStaging = false;
    const flush = () => (inStaging ? this.staging : this.main).readStored(run, opts);
    for (const [i, d] of digests.entries()) {
      const here = staged[i] !== undefined;
      if (run.length > 0 && here !== inStaging) {
        yield* flush();
        run = [];
      }
      inStaging = here;
      run.push(d);
    }
    if (run.length > 0) yield* flush();
  }

  async getEncoded(digest: Digest): Promise<EncodedChunk & { readonly raw: Buffer }> {
    return (await this.staging.has(digest)) ? this.staging.getEncoded(digest) : this.main.getEncoded(digest);
  }

  async get(digest: Digest): Promise<Buffer> {
    return (await this.staging.has(digest)) ? this.staging.get(digest) : this.main.get(digest);
  }

  async stat(digest: Digest): Promise<StoredChunkInfo | undefined> {
    return (await this.staging.stat(digest)) ?? this.main.stat(digest);
  }

  async statMany(digests: readonly Digest[]): Promise<(StoredChunkInfo | undefined)[]> {
    const [staged, held] = await Promise.all([this.staging.statMany(digests), this.main.statMany(digests)]);
    return digests.map((_, i) => staged[i] ?? held[i]);
  }

  /** Counted from both stores' index rows; nothing is touched. */
  async tally(digests: readonly Digest[], rawLengths: readonly number[]): Promise<ChunkTally> {
    const infos = await this.statMany(digests);
    let matched = 0;
    let storedBytes = 0;
    infos.forEach((info, i) => {
      if (!info || (info.rawLength !== undefined && info.rawLength !== rawLengths[i])) return;
      matched++;
      storedBytes += info.storedBytes;
    });
    return { matched, storedBytes };
  }

  /** Of `digests`, those in neither store (the main store touches the ones it holds). */
  async missing(digests: readonly Digest[]): Promise<Digest[]> {
    return this.staging.missing(await this.main.missing(digests));
  }

  // ---- writes: the staging store only -----------------------------------------------

  putEncoded(digest: Digest, chunk: EncodedChunk): Promise<number> {
    return this.staging.putEncoded(digest, chunk);
  }

  put(digest: Digest, raw: Buffer): Promise<number> {
    return this.staging.put(digest, raw);
  }

  putManyEncoded(
    items: readonly { digest: Digest; chunk: EncodedChunk }[],
    opts?: PutOptions,
  ): Promise<PutManyResult> {
    return this.staging.putManyEncoded(items, opts);
  }

  putManyHashed(items: readonly HashedChunk[], opts?: PutOptions): Promise<PutManyResult> {
    return this.staging.putManyHashed(items, opts);
  }

  /** The staged chunks (what `promote` moves). */
  list(): AsyncIterable<StoredChunkInfo> {
    return this.staging.list();
  }

  delete(digest: Digest, opts?: { ifTouchedBefore?: number }): Promise<void> {
    return this.staging.delete(digest, opts);
  }
}

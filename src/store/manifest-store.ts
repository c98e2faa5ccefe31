import { chunkLengths } from '../core/chunk-lengths.js';
import { IngotError } from '../core/errors.js';
import { type ChunkRef, type Digest, isDigest, type Manifest } from '../core/manifest.js';
import { encodeManifest, manifestDigest } from '../core/manifest-codec.js';
import type { ManifestFacts } from '../core/manifest-parse.js';
import {
  decodeRoot,
  encodeManifestV2,
  type PartRef,
  partsOf,
  refOf,
  streamChunkList,
} from '../core/manifest-v2.js';
import { type AssembleOptions, assembleManifestV2, talliesOf } from '../core/manifest-v2-check.js';
import type { ChunkWriter } from './chunk-store.js';
import { encodeChunk } from './compression.js';
import { cpuPool } from './cpu-pool.js';
import type { ManifestBlobs } from './manifest-blobs.js';

/** A manifest as stored and as offered: its bytes (a v2 root), the whole model, its parts. */
export interface LoadedManifest {
  readonly digest: Digest;
  readonly bytes: Buffer;
  readonly manifest: Manifest;
  /** The chunks a version 2 root names besides data (none in version 1). */
  readonly parts: readonly PartRef[];
}

/** Every chunk a manifest names, each once, with its length: its parts, then its data. */
export function namedChunks(m: LoadedManifest): Map<Digest, number> {
  const out = new Map<Digest, number>();
  for (const p of m.parts) out.set(p.digest, p.length);
  for (const [d, n] of chunkLengths(m.manifest.chunks)) out.set(d, n);
  return out;
}

/** What a commit checks and records of a manifest; `chunks` is read once. */
export interface ManifestSummary extends ManifestFacts {
  readonly kind: 'file' | 'tree';
  readonly size: number;
  readonly chunkCount: number;
  readonly fileCount: number;
  readonly chunks: AsyncIterable<readonly ChunkRef[]>;
}

/**
 * Canonical manifest bytes named by their SHA-256 (kept by a ManifestBlobs adapter: a
 * directory's `manifests-v1/ab/<digest>.json`, or the same keys in a bucket): a whole
 * version 1 manifest, or a version 2 root whose parts live in the chunk store. Written
 * after the digest is checked; verified again on every read. Signature checks are the
 * caller's business.
 */
export class ManifestStore {
  /** One transfer loads the same manifest at several steps; a weak reference keeps nothing alive. */
  private last: { readonly digest: Digest; readonly loaded: WeakRef<LoadedManifest> } | undefined;

  constructor(
    readonly blobs: ManifestBlobs,
    private readonly chunks: ChunkWriter,
  ) {}

  /** Writes a sealed manifest: its parts first (durable), then the root that names them. */
  async seal(m: Manifest): Promise<LoadedManifest> {
    if (m.version === 1) {
      const bytes = encodeManifest(m);
      const digest = manifestDigest(bytes);
      await this.writeManifest(digest, bytes);
      return { digest, bytes, manifest: m, parts: [] };
    }
    const { root, parts } = encodeManifestV2(m);
    const items = await Promise.all(
      parts.map(async (p) => ({ digest: p.digest, chunk: await encodeChunk(p.bytes) })),
    );
    const put = await this.chunks.putManyEncoded(items);
    if (put.rejected.length > 0) throw new IngotError('INTERNAL', 'a manifest part failed its own digest');
    const digest = manifestDigest(root);
    await this.writeManifest(digest, root);
    return this.remember({ digest, bytes: root, manifest: m, parts: parts.map(refOf) });
  }

  /** The stored manifest `digest`, whole: NOT_FOUND, CORRUPT or MISSING_CHUNKS when it cannot be. */
  async load(digest: Digest): Promise<LoadedManifest> {
    return this.expand(await this.readManifest(digest), { stored: true });
  }

  /**
   * A manifest from its bytes (an offer's, a bundle's), whole, reading a root's parts from
   * the chunk store: MISSING_CHUNKS while any has not arrived.
   */
  async expand(bytes: Buffer, opts: AssembleOptions = {}): Promise<LoadedManifest> {
    const digest = manifestDigest(bytes);
    const cached = this.last?.digest === digest ? this.last.loaded.deref() : undefined;
    if (cached) return cached;
    const decoded = decodeRoot(bytes);
    if (decoded.version === 1) return this.remember({ digest, bytes, manifest: decoded.manifest, parts: [] });
    const parts = partsOf(decoded.root);
    const bytesOf = await this.readParts(digest, parts);
    const read = new Map(parts.map((p, i) => [p.digest, bytesOf[i] as Buffer]));
    const canonicalParts = opts.stored ? undefined : await this.checkedParts(decoded.root.parent);
    const manifest = assembleManifestV2(decoded.root, (d) => read.get(d) as Buffer, {
      ...opts,
      canonicalParts,
    });
    return this.remember({ digest, bytes, manifest, parts });
  }

  /**
   * The entry table parts of tree `image` when it is held here (checked whole when it came),
   * its last part left out: a last part need not end where the rule cuts. A new version
   * shares most of its parent's parts, so assembling it re-encodes only its own.
   */
  private async checkedParts(image: Digest | null): Promise<ReadonlySet<Digest> | undefined> {
    if (image === null || !(await this.blobs.has(image))) return undefined;
    const decoded = decodeRoot(await this.readManifest(image));
    if (decoded.version === 1 || decoded.root.payload.kind !== 'tree') return undefined;
    return new Set(decoded.root.payload.entries.parts.slice(0, -1).map((p) => p.digest));
  }

  /**
   * The chunk list of a manifest (an offer's, a stored one's) part by part, a root's parts
   * read from the chunk store one at a time and checked as they come: what a grant or a
   * commit needs of a manifest, without the whole of it in memory. MISSING_CHUNKS first
   * when any part (an entry table's too) is not stored here.
   */
  async *chunkList(bytes: Buffer): AsyncGenerator<readonly ChunkRef[]> {
    const decoded = decodeRoot(bytes);
    if (decoded.version === 1) {
      yield decoded.manifest.chunks;
      return;
    }
    await this.requirePartsOf(manifestDigest(bytes), partsOf(decoded.root));
    const chunks = this.chunks;
    yield* streamChunkList(
      decoded.root,
      (async function* () {
        for (const p of decoded.root.chunks.parts) yield await chunks.get(p.digest);
      })(),
    );
  }

  /**
   * A manifest's facts and its chunk list for a commit. A version 2 file image is read part
   * by part, never whole; a tree is assembled, since its entries are checked against the
   * list as a whole (a tree's manifest grows with its files, not its bytes).
   */
  async summary(bytes: Buffer): Promise<ManifestSummary> {
    const decoded = decodeRoot(bytes);
    if (decoded.version === 2 && decoded.root.payload.kind === 'file') {
      const { chunks, payload, ...facts } = decoded.root;
      return {
        ...facts,
        kind: 'file',
        size: payload.size,
        chunkCount: chunks.count,
        fileCount: 1,
        chunks: this.chunkList(bytes),
      };
    }
    if (decoded.version === 2) {
      // A tree's entries are checked on the CPU pool: on a small pull of a large tree that
      // check is most of the receiver's main thread, and the commit needs only its tallies.
      const bytesOf = await this.readParts(manifestDigest(bytes), partsOf(decoded.root));
      const canonical = (await this.checkedParts(decoded.root.parent)) ?? new Set<Digest>();
      const checked = await cpuPool().checkManifest(bytes, bytesOf, canonical);
      return { ...checked, chunks: this.chunkList(bytes) };
    }
    const { manifest } = await this.expand(bytes);
    return {
      ...talliesOf(manifest),
      chunks: (async function* () {
        yield manifest.chunks;
      })(),
    };
  }

  /** MISSING_CHUNKS unless every part a manifest's bytes name is stored here. */
  async requireParts(bytes: Buffer): Promise<void> {
    const decoded = decodeRoot(bytes);
    if (decoded.version === 2) await this.requirePartsOf(manifestDigest(bytes), partsOf(decoded.root));
  }

  /** A root's parts, in order: MISSING_CHUNKS unless all are stored here. */
  private async readParts(digest: Digest, parts: readonly PartRef[]): Promise<Buffer[]> {
    await this.requirePartsOf(digest, parts);
    return Promise.all(parts.map((p) => this.chunks.get(p.digest)));
  }

  private async requirePartsOf(digest: Digest, parts: readonly PartRef[]): Promise<void> {
    // `has`, not `missing`: reading a manifest (an offer, gc's mark) writes no touch times.
    const held = await Promise.all(parts.map((p) => this.chunks.has(p.digest)));
    const absent = parts.filter((_, i) => !held[i]).map((p) => p.digest);
    if (absent.length > 0) {
      throw new IngotError(
        'MISSING_CHUNKS',
        `${absent.length} part(s) of manifest ${digest} are not stored here`,
        {
          details: { missing: absent.slice(0, 10) },
        },
      );
    }
  }

  private remember(loaded: LoadedManifest): LoadedManifest {
    this.last = { digest: loaded.digest, loaded: new WeakRef(loaded) };
    return loaded;
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    check(digest);
    return this.blobs.has(digest);
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
    await this.blobs.write(digest, bytes);
  }

  /** The stored bytes, re-hashed: NOT_FOUND when absent, CORRUPT when damaged. */
  async readManifest(digest: Digest): Promise<Buffer> {
    check(digest);
    const bytes = await this.blobs.read(digest);
    if (!bytes) {
      throw new IngotError('NOT_FOUND', `manifest ${digest} is not in the store`, { details: { digest } });
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
   * Removes manifests not in `keep` and last written before `cutoffMs`: a commit writes its
   * manifest before the catalog row, so a young unlisted manifest may be one in flight.
   */
  async prune(keep: ReadonlySet<string>, cutoffMs: number, opts: { dryRun?: boolean } = {}): Promise<number> {
    let removed = 0;
    for await (const m of this.blobs.list()) {
      if (keep.has(m.digest) || m.writtenMs >= cutoffMs) continue;
      if (!opts.dryRun) await this.blobs.remove(m.digest);
      removed++;
    }
    return removed;
  }
}

function check(d: string): asserts d is Digest {
  if (!isDigest(d)) throw new IngotError('INVALID_ARGUMENT', `not a manifest digest: ${JSON.stringify(d)}`);
}

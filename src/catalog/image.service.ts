import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest, Manifest } from '../core/manifest.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, payloadSize } from '../core/manifest.js';
import { parseDraft } from '../core/manifest-codec.js';
import { checkName } from '../core/names.js';
import type { SigningIdentity } from '../core/signatures.js';
import { type ImageState, parseImageState } from '../core/states.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { LoadedManifest, ManifestStore, ManifestSummary } from '../store/manifest-store.js';
import type { CatalogService } from './catalog.service.js';
import { requireChunks } from './chunk-check.js';
import type { ImageRecord } from './types.js';

/**
 * Sealing an ingest: the client has uploaded every chunk it was told was missing and sends
 * the draft manifest; this checks it, makes sure every chunk it names is stored, signs the
 * sealed manifest and lists the image, in that order, so nothing half-made is ever listed.
 */
export interface CommitRequest {
  readonly name: string;
  readonly type?: string;
  readonly series?: string;
  readonly from?: string;
  readonly state?: string;
  /** Never offered to peers, whatever their filters say. */
  readonly private?: boolean;
  /** Where the client read the payload, to find the working copy it came from. */
  readonly source?: { readonly host: string; readonly path: string };
  readonly draft: unknown;
}

const DEFAULT_TYPE = { tree: 'SOFTWARE', file: 'DISKIMAGE' } as const;

export class ImageService {
  constructor(
    private readonly deps: {
      readonly origin: string;
      readonly catalog: CatalogService;
      readonly store: ChunkStore;
      readonly manifests: ManifestStore;
      readonly identity: SigningIdentity;
      readonly now?: () => Date;
    },
  ) {}

  async commit(req: CommitRequest): Promise<ImageRecord> {
    const { catalog, identity, manifests } = this.deps;
    checkName('image', req.name);
    const state: ImageState = req.state === undefined ? 'PUBLISHED' : parseImageState(req.state);
    await this.refuseDuplicate(req.name);
    const draft = parseDraft(req.draft);
    const parent = await this.resolveParent(req);
    const storedBytes = await requireChunks(this.deps.store, draft.chunks);
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      name: req.name,
      origin: this.deps.origin,
      imageType: req.type ?? DEFAULT_TYPE[draft.payload.kind],
      parent: parent?.digest ?? null,
      created: (this.deps.now?.() ?? new Date()).toISOString(),
      payload: draft.payload,
      chunks: draft.chunks,
    };
    const { digest } = await manifests.seal(manifest);
    return catalog.insertImage(
      {
        name: manifest.name,
        digest,
        kind: draft.payload.kind,
        imageType: manifest.imageType,
        state,
        parentName: parent?.name ?? null,
        parentDigest: parent?.digest ?? null,
        origin: manifest.origin,
        size: payloadSize(draft.payload),
        storedBytes,
        chunkCount: draft.chunks.length,
        fileCount: draft.payload.kind === 'tree' ? draft.payload.entries.length : 1,
        signature: identity.signDigest(digest),
        createdAt: manifest.created,
        private: req.private ?? false,
      },
      req.series,
    );
  }

  /**
   * What commit would refuse about everything but the chunks, checked before an ingest
   * reads a byte: the name (free, valid), the state, the parent, the type against the
   * payload kind, the series. Commit checks them all again; this only fails earlier.
   */
  async preflight(req: Omit<CommitRequest, 'draft'> & { readonly kind: 'tree' | 'file' }): Promise<void> {
    checkName('image', req.name);
    if (req.state !== undefined) parseImageState(req.state);
    await this.refuseDuplicate(req.name);
    await this.resolveParent(req);
    await this.deps.catalog.checkImageType(req.type ?? DEFAULT_TYPE[req.kind], req.kind);
    if (req.series !== undefined) await this.deps.catalog.showSeries(checkName('series', req.series));
  }

  /** The sealed manifest of an image, checked against the digest the catalog holds. */
  async manifest(name: string): Promise<LoadedManifest & { image: ImageRecord }> {
    const image = await this.deps.catalog.getImage(name);
    return { image, ...(await this.deps.manifests.load(image.digest as Digest)) };
  }

  /**
   * The image and its manifest's bytes alone (for a version 2 root, the root), checked
   * against the digest the catalog holds: what an offer or a download sends, without
   * reading the parts.
   */
  async manifestBytes(name: string): Promise<{ image: ImageRecord; bytes: Buffer }> {
    const image = await this.deps.catalog.getImage(name);
    return { image, bytes: await this.deps.manifests.readManifest(image.digest as Digest) };
  }

  /** The chunk list of an image held here, part by part, from this server's store. */
  async *chunkList(digest: Digest): AsyncGenerator<readonly ChunkRef[]> {
    yield* this.deps.manifests.chunkList(await this.deps.manifests.readManifest(digest));
  }

  /** What a commit checks of a manifest, its chunk list streamed (see ManifestStore.summary). */
  summary(bytes: Buffer): Promise<ManifestSummary> {
    return this.deps.manifests.summary(bytes);
  }

  /** An offered manifest, whole, a root's parts read from the store (MISSING_CHUNKS until they arrive). */
  expand(bytes: Buffer): Promise<LoadedManifest> {
    return this.deps.manifests.expand(bytes);
  }

  private async refuseDuplicate(name: string): Promise<void> {
    const existing = await this.deps.catalog.findImage(name);
    if (existing) {
      throw new IngotError('ALREADY_EXISTS', `an image named ${name} already exists`, {
        hint: 'image names are unique and images immutable: choose a new name (e.g. a version suffix)',
      });
    }
  }

  private async resolveParent(
    req: Omit<CommitRequest, 'draft'>,
  ): Promise<{ name: string; digest: Digest } | undefined> {
    if (req.from !== undefined) {
      const p = await this.deps.catalog.getImage(checkName('image', req.from));
      return { name: p.name, digest: p.digest as Digest };
    }
    if (req.source) {
      const wc = await this.deps.catalog.findWorkingCopyContaining(req.source.host, req.source.path);
      if (wc) {
        const p = await this.deps.catalog.findImage(wc.imageName);
        if (p) return { name: p.name, digest: p.digest as Digest };
      }
    }
    return undefined;
  }
}

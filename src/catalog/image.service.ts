import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest, Manifest } from '../core/manifest.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, payloadSize } from '../core/manifest.js';
import { parseDraft } from '../core/manifest-codec.js';
import { checkName } from '../core/names.js';
import { keyId, type SigningIdentity } from '../core/signatures.js';
import { type ImageState, parseImageState } from '../core/states.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { LoadedManifest, ManifestStore, ManifestSummary } from '../store/manifest-store.js';
import type { CatalogService } from './catalog.service.js';
import { requireChunks } from './chunk-check.js';
import type { ImageRecord, PayloadKind } from './types.js';

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

export type PreflightRequest = Omit<CommitRequest, 'draft'> & { readonly kind: PayloadKind };

/** The type and series a new image gets, given or inherited from its declared parent. */
export interface Inherited {
  readonly imageType: string;
  readonly series?: string;
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
    const { imageType, series } = await this.inherited(req, draft.payload.kind, parent);
    const { chunks, storedBytes } = await requireChunks(this.deps.store, draft.chunks);
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      name: req.name,
      origin: this.deps.origin,
      imageType,
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
        originKeyId: keyId(identity.publicKeyPem),
        size: payloadSize(draft.payload),
        storedBytes,
        chunkCount: chunks,
        fileCount: draft.payload.kind === 'tree' ? draft.payload.entries.length : 1,
        signature: identity.signDigest(digest),
        createdAt: manifest.created,
        private: req.private ?? false,
      },
      series,
    );
  }

  /**
   * What commit would refuse about everything but the chunks, checked before an ingest
   * reads a byte: the name (free, valid), the state, the parent, the type against the
   * payload kind, the series. Commit checks them all again; this only fails earlier.
   * Answers the type and series the image will get (those of `from` unless given).
   */
  async preflight(req: PreflightRequest): Promise<Inherited> {
    checkName('image', req.name);
    if (req.state !== undefined) parseImageState(req.state);
    await this.refuseDuplicate(req.name);
    const inherited = await this.inherited(req, req.kind, await this.resolveParent(req));
    await this.deps.catalog.checkImageType(inherited.imageType, req.kind);
    if (inherited.series !== undefined) await this.deps.catalog.showSeries(inherited.series);
    return inherited;
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

  private async resolveParent(req: Omit<CommitRequest, 'draft'>): Promise<ImageRecord | undefined> {
    if (req.from !== undefined) return this.deps.catalog.getImage(checkName('image', req.from));
    if (req.source) {
      const wc = await this.deps.catalog.findWorkingCopyContaining(req.source.host, req.source.path);
      if (wc) return this.deps.catalog.findImage(wc.imageName);
    }
    return undefined;
  }

  /**
   * The type and series of a new image: those given, else for an image declared `--from P`
   * P's type (when P has the same payload kind) and P's series (when P is in exactly one;
   * in several, the caller must say which). A working copy's parent found by itself passes
   * nothing on: the user did not name it.
   */
  private async inherited(
    req: Omit<CommitRequest, 'draft'>,
    kind: PayloadKind,
    parent: ImageRecord | undefined,
  ): Promise<Inherited> {
    const declared = req.from !== undefined ? parent : undefined;
    const imageType =
      req.type ?? (declared && declared.kind === kind ? declared.imageType : DEFAULT_TYPE[kind]);
    if (req.series !== undefined) return { imageType, series: checkName('series', req.series) };
    if (!declared) return { imageType };
    const series = await this.deps.catalog.seriesOfImage(declared.name);
    if (series.length > 1) {
      throw new IngotError(
        'INVALID_ARGUMENT',
        `${declared.name} is in ${series.length} series (${series.join(', ')}): which one should ${req.name} join?`,
        { hint: `name it with --series (e.g. --series ${series[0]})` },
      );
    }
    return series[0] === undefined ? { imageType } : { imageType, series: series[0] };
  }
}

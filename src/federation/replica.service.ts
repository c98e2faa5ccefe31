import type { CatalogService } from '../catalog/catalog.service.js';
import { requireChunks } from '../catalog/chunk-check.js';
import { BASE_TYPES, isBaseType } from '../catalog/types.js';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { manifestDigest } from '../core/manifest-codec.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { ManifestStore, ManifestSummary } from '../store/manifest-store.js';
import type { ImageOffer, OfferMeta, SinkStatus } from '../transfer/image-sides.js';
import type { OriginKey, OriginKeys } from './origin-keys.js';
import type { PeerRecord } from './types.js';

/** Who sends: a peer (by its local name here), or the server that signed a bundle. */
export type Sender = Pick<PeerRecord, 'name' | 'clusterName' | 'signingKeyPem' | 'signingKeyId'>;

/**
 * Why an image may come in. `own`: the sender made it and signed it. `upload`: the same,
 * but unasked (a follower's upload), so it arrives TESTABLE and its state is ours to set.
 * `vouched`: a document the sender signed (a template version, a bundle header) lists this
 * digest, so it may have been made anywhere; the document may carry the origin's key too,
 * which counts only for an origin this server holds no key of.
 */
export type Admission =
  | { readonly kind: 'own' }
  | { readonly kind: 'upload' }
  | { readonly kind: 'vouched'; readonly digest: Digest; readonly originKey?: string | undefined };

const OWN: Admission = { kind: 'own' };

/** Manifests read ahead of their commits, at most this many at once (a tree's is held whole). */
const MAX_AHEAD = 4;

/**
 * The one gate for every image that comes from elsewhere: a peer's push, a pull, a template
 * sync, a bundle. A peer may only send images it originated (no chaining); a vouched image
 * may have been made anywhere. Either way the manifest's signature must check with its
 * origin's key (origin-keys.ts): the sending peer's pinned key for its own images, else
 * this server's own key or a registered peer's, and only otherwise a key the vouching
 * document carries. The replica records the id of the key it checked with.
 * The manifest must be the one signed, every chunk present, and the name free or already
 * this very image. Only then is the replica listed: read-only, attributed to its origin
 * and the peer.
 */
export class ReplicaService {
  private readonly ahead = new Map<Digest, Promise<ManifestSummary>>();

  constructor(
    private readonly deps: {
      readonly catalog: CatalogService;
      readonly store: ChunkStore;
      readonly manifests: ManifestStore;
      readonly keys: OriginKeys;
    },
  ) {}

  /** Checks an offer before any chunk moves; 'present' when this exact image is held. */
  async check(peer: Sender, meta: OfferMeta, admission: Admission = OWN): Promise<SinkStatus> {
    return (await this.admit(peer, meta, admission)).status;
  }

  /** The checks of `check`, and the origin key the offer's signature checked with. */
  private async admit(
    peer: Sender,
    meta: OfferMeta,
    admission: Admission,
  ): Promise<{ status: SinkStatus; key: OriginKey }> {
    let key: OriginKey;
    if (admission.kind === 'vouched') {
      if (meta.digest !== admission.digest) {
        throw new IngotError(
          'FORBIDDEN',
          `${peer.name} offered ${meta.name} with another digest than it vouched for`,
          {
            details: { vouched: admission.digest, offered: meta.digest },
          },
        );
      }
      key = await this.deps.keys.checkOffer(meta, admission.originKey);
    } else {
      // Straight from its origin: the sender's pinned key alone may have signed it.
      if (meta.origin !== peer.clusterName) {
        throw new IngotError(
          'FORBIDDEN',
          `peer ${peer.name} offered ${meta.name}, which originated on ${meta.origin}`,
          {
            hint: 'peers send only images they created themselves; images are not relayed between peers',
          },
        );
      }
      key = await this.deps.keys.checkOffer(meta, undefined, peer);
    }
    return { status: await this.nameStatus(meta), key };
  }

  private async nameStatus(meta: OfferMeta): Promise<SinkStatus> {
    const existing = await this.deps.catalog.findImage(meta.name);
    if (!existing) return 'needed';
    if (existing.digest === meta.digest) return 'present';
    throw new IngotError('CONFLICT', `an image named ${meta.name} already exists here with other content`, {
      details: { held: existing.digest, offered: meta.digest, heldOrigin: existing.origin },
      hint: 'image names are unique per server: rename or delete the local image to receive this one',
    });
  }

  async accept(peer: Sender, offer: ImageOffer, admission: Admission = OWN): Promise<SinkStatus> {
    const { status, key } = await this.admit(peer, offer, admission);
    if (status === 'present') {
      await this.restoreManifest(offer);
      return 'present';
    }
    const digest = manifestDigest(offer.manifest);
    if (digest !== offer.digest) {
      throw new IngotError(
        'BAD_SIGNATURE',
        `the manifest of ${offer.name} is not the one its origin signed`,
        {
          details: { signed: offer.digest, received: digest },
        },
      );
    }
    // A version 2 root's parts travelled as chunks and are read (and checked) from the store.
    const m = await this.summaryOf(digest, offer.manifest);
    if (m.name !== offer.name || m.origin !== offer.origin || m.imageType !== offer.imageType) {
      throw new IngotError('INVALID_MANIFEST', `the manifest of ${offer.name} disagrees with its offer`);
    }
    await this.ensureImageType(m.imageType, offer.baseType, m.kind);
    const { chunks, storedBytes } = await requireChunks(this.deps.store, m.chunks);
    await this.deps.manifests.writeManifest(digest, offer.manifest);
    try {
      await this.deps.catalog.insertImage({
        name: m.name,
        digest,
        kind: m.kind,
        imageType: m.imageType,
        state: admission.kind === 'upload' ? 'TESTABLE' : offer.state,
        parentDigest: m.parent,
        origin: m.origin,
        originKeyId: key.id,
        size: m.size,
        storedBytes,
        chunkCount: chunks,
        fileCount: m.fileCount,
        signature: offer.signature,
        createdAt: m.created,
        receivedFrom: peer.name,
        uploaded: admission.kind === 'upload',
      });
    } catch (err) {
      // Two deliveries of one image can race; the second finds the first's row.
      if (err instanceof IngotError && err.code === 'ALREADY_EXISTS')
        return this.check(peer, offer, admission);
      throw err;
    }
    return 'needed';
  }

  /**
   * Once a root's parts are stored, reads and checks the manifest while the data moves, so
   * the commit finds that work done (a tree's entries take most of a small pull's commit).
   * A manifest that fails is refused by the commit, as it would be without this.
   */
  checkAhead(offer: ImageOffer): void {
    const digest = manifestDigest(offer.manifest);
    if (this.ahead.has(digest)) return;
    if (this.ahead.size >= MAX_AHEAD) this.ahead.delete(this.ahead.keys().next().value as Digest);
    const summary = this.deps.manifests.summary(offer.manifest);
    summary.catch(() => {});
    this.ahead.set(digest, summary);
  }

  /** The manifest's summary, read ahead or now; its parts are still all here. */
  private async summaryOf(digest: Digest, bytes: Buffer): Promise<ManifestSummary> {
    const ahead = this.ahead.get(digest);
    this.ahead.delete(digest);
    if (!ahead) return this.deps.manifests.summary(bytes);
    const summary = await ahead;
    await this.deps.manifests.requireParts(bytes);
    return summary;
  }

  /**
   * A listed image whose manifest file is missing: a catalog restored from a snapshot lists
   * the images its bundle then brings. Written once every chunk it names is here.
   */
  private async restoreManifest(offer: ImageOffer): Promise<void> {
    if (await this.deps.manifests.hasManifest(offer.digest)) return;
    if (manifestDigest(offer.manifest) !== offer.digest) {
      throw new IngotError('BAD_SIGNATURE', `the manifest of ${offer.name} is not the one its origin signed`);
    }
    await requireChunks(this.deps.store, (await this.deps.manifests.summary(offer.manifest)).chunks);
    await this.deps.manifests.writeManifest(offer.digest, offer.manifest);
  }

  /** A replica keeps its origin's image type; make it here when this server lacks it. */
  private async ensureImageType(name: string, baseType: string, kind: 'tree' | 'file'): Promise<void> {
    const types = await this.deps.catalog.listImageTypes();
    if (types.some((t) => t.name === name)) return;
    if (!isBaseType(baseType) || BASE_TYPES[baseType] !== kind) {
      throw new IngotError(
        'INVALID_MANIFEST',
        `image type ${name} has base ${baseType}, which does not take a ${kind}`,
      );
    }
    try {
      await this.deps.catalog.createImageType(name, baseType, 'created for a replica');
    } catch (err) {
      if (!(err instanceof IngotError && err.code === 'ALREADY_EXISTS')) throw err;
    }
  }
}

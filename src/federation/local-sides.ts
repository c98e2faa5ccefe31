import type { CatalogService } from '../catalog/catalog.service.js';
import type { ImageService } from '../catalog/image.service.js';
import type { ImageRecord } from '../catalog/types.js';
import { IngotError } from '../core/errors.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { type ReceiveCounter, receiveChunks, serveChunks } from '../transfer/chunk-receiver.js';
import type { ImageSink, ImageSource, OfferMeta } from '../transfer/image-transfer.js';
import type { Admission, ReplicaService } from './replica.service.js';
import type { PeerRecord } from './types.js';

/**
 * This server as either end of an image transfer. As a source it offers only what the
 * policy allows a peer to have; as a sink every chunk is verified by the store and the
 * image is accepted only through the replica gate.
 */
export interface LocalSideDeps {
  readonly self: string;
  readonly images: ImageService;
  readonly catalog: CatalogService;
  readonly store: ChunkStore;
  readonly replicas: ReplicaService;
  readonly counter?: ReceiveCounter;
}

/** Decides whether a peer may have this image. */
export type OfferPolicy = (image: ImageRecord) => Promise<boolean> | boolean;

/** Peers get this server's own images, never private ones, in one of `states`. */
export function ownImages(self: string, states: readonly string[]): OfferPolicy {
  return (image) => image.origin === self && !image.private && states.includes(image.state);
}

async function checkOfferable(image: ImageRecord, policy: OfferPolicy): Promise<void> {
  if (!(await policy(image))) {
    // One answer whatever the reason, so a peer cannot probe for images it may not have.
    throw new IngotError('NOT_FOUND', `no image named ${image.name} is offered to peers here`, {
      hint: 'peers receive only images made on this server, not private, and PUBLISHED unless asked otherwise',
    });
  }
}

export async function offerMeta(deps: LocalSideDeps, image: ImageRecord): Promise<OfferMeta> {
  const type = await deps.catalog.getImageType(image.imageType);
  return {
    name: image.name,
    digest: image.digest,
    origin: image.origin,
    signature: image.signature ?? '',
    state: image.state,
    imageType: image.imageType,
    baseType: type.baseType,
    size: image.size,
  };
}

export function localSource(deps: LocalSideDeps, policy: OfferPolicy): ImageSource {
  return {
    async offer(name) {
      const { image, bytes } = await deps.images.manifestBytes(name);
      await checkOfferable(image, policy);
      return { ...(await offerMeta(deps, image)), manifest: bytes };
    },
    fetch: (digests) => serveChunks(deps.store, digests),
  };
}

export function localSink(
  deps: LocalSideDeps,
  peer: PeerRecord,
  admit: (meta: OfferMeta) => Admission = () => ({ kind: 'own' }),
): ImageSink {
  return {
    prepare: (meta) => deps.replicas.check(peer, meta, admit(meta)),
    commit: (offer) => deps.replicas.accept(peer, offer, admit(offer)),
    missing: (digests) => deps.store.missing(digests),
    put: async (chunks) => {
      const r = await receiveChunks(deps.store, chunks, deps.counter);
      return { stored: r.stored, storedBytes: r.storedBytes };
    },
  };
}

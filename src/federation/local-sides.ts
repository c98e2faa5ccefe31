import type { CatalogService } from '../catalog/catalog.service.js';
import type { ImageService } from '../catalog/image.service.js';
import type { ImageRecord } from '../catalog/types.js';
import { IngotError } from '../core/errors.js';
import { decodeRoot, rootFacts } from '../core/manifest-v2.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { requireFreeSpace } from '../store/disk-space.js';
import { type ReceiveCounter, receiveChunks, serveMoving, wireSizes } from '../transfer/chunk-receiver.js';
import type { DeltaBase, ImageOffer, ImageSink, ImageSource, OfferMeta } from '../transfer/image-sides.js';
import { type OriginKeys, safeKeyId } from './origin-keys.js';
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
  readonly keys: OriginKeys;
  readonly counter?: ReceiveCounter;
}

/** Decides whether a peer may have this image. */
export type OfferPolicy = (image: ImageRecord) => Promise<boolean> | boolean;

/**
 * Peers get this server's own images (their origin has this server's key, whatever its
 * name), never private ones, in one of `states`.
 */
export function ownImages(keys: Pick<OriginKeys, 'ownKeyId'>, states: readonly string[]): OfferPolicy {
  return (image) => image.originKeyId === keys.ownKeyId && !image.private && states.includes(image.state);
}

/**
 * Refuses what `policy` does not offer, saying which server refuses whom and why: a peer
 * that asks for an image by name learns that it exists, and what would make it offered.
 */
async function checkOfferable(
  self: string,
  ownKeyId: string,
  image: ImageRecord,
  policy: OfferPolicy,
  to?: string,
): Promise<void> {
  if (await policy(image)) return;
  throw new IngotError(
    'NOT_FOUND',
    `${self} does not offer ${image.name} to ${to ?? 'peers'}: ${whyNot(ownKeyId, image)}`,
    {
      hint: 'peers receive only images made on their origin, not private, and PUBLISHED unless asked otherwise',
    },
  );
}

function whyNot(ownKeyId: string, image: ImageRecord): string {
  if (image.originKeyId !== ownKeyId)
    return `a replica of ${image.origin}'s (images travel only from their origin)`;
  if (image.private) return 'private';
  return image.state;
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
    originKey: (await deps.keys.pinned(image))?.pem,
  };
}

/** This server as the sending end; `to` names the peer in a refusal. */
export function localSource(deps: LocalSideDeps, policy: OfferPolicy, to?: string): ImageSource {
  return {
    async offer(name) {
      const { image, bytes } = await deps.images.manifestBytes(name).catch((err: unknown) => {
        throw err instanceof IngotError && err.code === 'NOT_FOUND'
          ? new IngotError('NOT_FOUND', `${deps.self} has no image named ${name}`, {
              hint: `\`ingot query image --server ${deps.self}\` lists what it offers`,
            })
          : err;
      });
      await checkOfferable(deps.self, deps.keys.ownKeyId, image, policy, to);
      return { ...(await offerMeta(deps, image)), manifest: bytes };
    },
    fetch: (digests, references) => serveMoving(deps.store, digests, references),
    deltaBase: (bases) => firstOffered(deps, bases, policy),
    wireSizes: (digests, references) => wireSizes(deps.store, digests, references),
    baseChunks: (base) => deps.images.chunkList(base.digest),
  };
}

/** Of a receiver's bases, the first held here under that name that `policy` would offer too. */
export async function firstOffered(
  deps: LocalSideDeps,
  bases: readonly DeltaBase[],
  policy: OfferPolicy,
): Promise<DeltaBase | undefined> {
  for (const b of bases) {
    const image = await deps.catalog.findImage(b.name);
    if (image?.digest === b.digest && (await policy(image)))
      return { name: image.name, digest: image.digest };
  }
  return undefined;
}

/** How many bases a receiver names: the sender takes the first it holds. */
const MAX_BASES = 3;

/**
 * The images held here that an offered image's chunks are most like, best first: its
 * parent (a new version is usually made `--from` the one before), then the newest other
 * images of the same origin and type (the one it replaces, when it has no parent here).
 */
export async function deltaBasesFor(deps: LocalSideDeps, offer: ImageOffer): Promise<DeltaBase[]> {
  const { parent } = rootFacts(decodeRoot(offer.manifest));
  const bases: DeltaBase[] = [];
  const held = parent ? await deps.catalog.findImageByDigest(parent) : undefined;
  if (held) bases.push({ name: held.name, digest: held.digest });
  // By origin (its key when the offer gives it: names may repeat), then type: a type this
  // server has never seen is no error, just no kin.
  const originKeyId = offer.originKey ? safeKeyId(offer.originKey) : undefined;
  const kin = (
    await deps.catalog.listImages(originKeyId ? { originKeyId } : { origin: offer.origin })
  ).filter((i) => i.imageType === offer.imageType);
  kin.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  for (const image of kin) {
    if (bases.length >= MAX_BASES) break;
    if (image.digest === offer.digest || bases.some((b) => b.digest === image.digest)) continue;
    bases.push({ name: image.name, digest: image.digest });
  }
  return bases;
}

export function localSink(
  deps: LocalSideDeps,
  peer: PeerRecord,
  admit: (meta: OfferMeta) => Admission = () => ({ kind: 'own' }),
): ImageSink {
  return {
    prepare: (meta) => deps.replicas.check(peer, meta, admit(meta)),
    commit: (offer) => deps.replicas.accept(peer, offer, admit(offer)),
    checkAhead: (offer) => deps.replicas.checkAhead(offer),
    missing: (digests) => deps.store.missing(digests),
    put: async (chunks) => {
      const r = await receiveChunks(deps.store, chunks, deps.counter);
      return { stored: r.stored, storedBytes: r.storedBytes, refused: r.refused.map((d) => d.digest) };
    },
    deltaBases: (offer) => deltaBasesFor(deps, offer),
    baseChunks: (base) => deps.images.chunkList(base.digest),
    room: async (bytes) => {
      if (deps.store.spaceAt) await requireFreeSpace(deps.store.spaceAt, bytes, 'this transfer');
    },
  };
}

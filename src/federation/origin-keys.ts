import type { ImageRecord } from '../catalog/types.js';
import { IngotError } from '../core/errors.js';
import { keyId, verifyDigestSignature } from '../core/signatures.js';
import type { OfferMeta } from '../transfer/image-sides.js';
import type { PeerService } from './peer.service.js';
import type { PeerRecord } from './types.js';

/**
 * Whose key signs an origin's manifests. A server is its key, not its cluster name (two
 * servers may share a name): this server's own signing key for images made here, the key
 * pinned at registration for a registered peer, each known by its key id (SHA-256 of the
 * SPKI DER). An origin that is neither is known only through a document a trusted server
 * signed (a template version, a bundle header), which may carry the origin's key.
 */
export interface OriginKey {
  readonly pem: string;
  readonly id: string;
  /** Where the key comes from, for messages. */
  readonly source: 'self' | 'peer' | 'vouched';
}

export class OriginKeys {
  private readonly own: OriginKey;

  constructor(
    private readonly deps: {
      readonly self: string;
      readonly ownKeyPem: string;
      readonly peers: Pick<PeerService, 'bySigningKey' | 'byClusterName'>;
    },
  ) {
    this.own = { pem: deps.ownKeyPem, id: keyId(deps.ownKeyPem), source: 'self' };
  }

  /** This server's own key id: an image is this server's own when its origin has it. */
  get ownKeyId(): string {
    return this.own.id;
  }

  /** The key this server holds with that id: its own, or a registered peer's. */
  async byId(id: string): Promise<OriginKey | undefined> {
    if (id === this.own.id) return this.own;
    const peer = await this.deps.peers.bySigningKey(id);
    return peer ? peerKey(peer) : undefined;
  }

  /**
   * The keys held for an origin known only by its cluster name: this server's own when it
   * is this server's name, then every registered peer that calls itself so.
   */
  async named(origin: string): Promise<OriginKey[]> {
    const keys = origin === this.deps.self ? [this.own] : [];
    for (const peer of await this.deps.peers.byClusterName(origin)) keys.push(peerKey(peer));
    return keys;
  }

  /** The key held for a listed image's origin: by its key id, or by name for one without. */
  async pinned(image: Pick<ImageRecord, 'origin' | 'originKeyId'>): Promise<OriginKey | undefined> {
    if (image.originKeyId) return this.byId(image.originKeyId);
    return (await this.named(image.origin))[0];
  }

  /**
   * The keys an offer may be signed with, tried in order. A vouched key counts as the key
   * it is: this server's own, or a registered peer's when the offer names that peer's
   * cluster name. Otherwise the keys held for the origin's name win over a vouched key, so
   * no document can speak for this server or for a registered peer; a vouched key counts
   * for an origin of which no key is held.
   */
  async forOffer(meta: OfferMeta, vouchedKey: string | undefined): Promise<OriginKey[]> {
    const vouchedId = vouchedKey === undefined ? undefined : safeKeyId(vouchedKey);
    if (vouchedKey && vouchedId) {
      if (vouchedId === this.own.id) return [this.own];
      const peer = await this.deps.peers.bySigningKey(vouchedId);
      if (peer && peer.clusterName === meta.origin) return [peerKey(peer)];
    }
    const named = await this.named(meta.origin);
    if (named.length > 0) return named;
    if (vouchedKey && vouchedId) return [{ pem: vouchedKey, id: vouchedId, source: 'vouched' }];
    throw new IngotError(
      'UNKNOWN_ORIGIN',
      `${meta.name} originated on ${meta.origin}, which is not a registered peer of ${this.deps.self}, and nothing vouches for its key`,
      {
        hint: `register ${meta.origin} (\`ingot register server --server ${meta.origin}\`), or take the image from a template or bundle of a server that holds it; nothing was kept`,
      },
    );
  }

  /**
   * Checks an offer's signature with its origin's key and returns that key; throws
   * BAD_SIGNATURE naming whose. `sender`: the offer comes straight from its origin (a
   * peer's push, a pull), whose pinned key alone may sign it.
   */
  async checkOffer(
    meta: OfferMeta,
    vouchedKey: string | undefined,
    sender?: Pick<PeerRecord, 'signingKeyPem' | 'signingKeyId'>,
  ): Promise<OriginKey> {
    const keys = sender
      ? [{ pem: sender.signingKeyPem, id: sender.signingKeyId, source: 'peer' as const }]
      : await this.forOffer(meta, vouchedKey);
    const key = keys.find((k) => verifyDigestSignature(k.pem, meta.digest, meta.signature));
    if (key) return key;
    throw badSignature(meta, keys[0] as OriginKey, this.deps.self, 'offer');
  }

  /**
   * Checks a listed image's signature: 'checked', or 'unchecked' when its origin is neither
   * this server nor a registered peer (it came vouched for by one); throws BAD_SIGNATURE.
   */
  async checkImage(image: ImageRecord): Promise<'checked' | 'unchecked'> {
    const key = await this.pinned(image);
    if (!key) return 'unchecked';
    if (image.signature && verifyDigestSignature(key.pem, image.digest, image.signature)) return 'checked';
    throw badSignature(image, key, this.deps.self, 'image');
  }
}

function peerKey(peer: PeerRecord): OriginKey {
  return { pem: peer.signingKeyPem, id: peer.signingKeyId, source: 'peer' };
}

/** The key id of a PEM public key, or undefined when it is not one. */
export function safeKeyId(pem: string): string | undefined {
  try {
    return keyId(pem);
  } catch {
    return undefined;
  }
}

function badSignature(
  m: { name: string; origin: string; digest: string },
  key: OriginKey,
  self: string,
  what: 'offer' | 'image',
): IngotError {
  const message =
    key.source === 'self'
      ? `${m.name} names this server (${self}) as its origin but is not signed with this server's key`
      : `the signature on ${m.name} does not check against ${m.origin}'s ${key.source === 'peer' ? 'pinned' : 'vouched'} key`;
  const hint =
    what === 'image'
      ? 'its manifest or signature changed after it was admitted; delete the image and take it again from its origin'
      : key.source === 'self'
        ? "another server signed a manifest in this server's name; nothing was kept"
        : 'the manifest was changed after it was signed, or its origin signs with another key; nothing was kept';
  return new IngotError('BAD_SIGNATURE', message, {
    details: { digest: m.digest, origin: m.origin, originKeyId: key.id },
    hint,
  });
}

import type { ImageRecord } from '../catalog/types.js';
import { IngotError } from '../core/errors.js';
import { verifyDigestSignature } from '../core/signatures.js';
import type { OfferMeta } from '../transfer/image-sides.js';
import type { PeerService } from './peer.service.js';

/**
 * Whose key signs an origin's manifests. A server is its key: this server's own signing
 * key for images made here, the key pinned at registration for a registered peer. A name
 * that is neither is known only through a document a trusted server signed (a template
 * version, a bundle header), which may carry the origin's key beside its name.
 */
export interface OriginKey {
  readonly pem: string;
  /** Where the key comes from, for messages. */
  readonly source: 'self' | 'peer' | 'vouched';
}

export class OriginKeys {
  constructor(
    private readonly deps: {
      readonly self: string;
      readonly ownKeyPem: string;
      readonly peers: Pick<PeerService, 'find'>;
    },
  ) {}

  /** The key this server holds for `origin` (itself or a registered peer), if any. */
  async pinned(origin: string): Promise<OriginKey | undefined> {
    if (origin === this.deps.self) return { pem: this.deps.ownKeyPem, source: 'self' };
    const peer = await this.deps.peers.find(origin);
    return peer ? { pem: peer.signingKeyPem, source: 'peer' } : undefined;
  }

  /**
   * The key an offer must be signed with. A pinned key always wins over `vouchedKey`, the
   * one a document signed by a trusted server carries for the origin, so no document can
   * speak for this server or for a registered peer.
   */
  async forOffer(meta: OfferMeta, vouchedKey: string | undefined): Promise<OriginKey> {
    const pinned = await this.pinned(meta.origin);
    if (pinned) return pinned;
    if (vouchedKey) return { pem: vouchedKey, source: 'vouched' };
    throw new IngotError(
      'UNKNOWN_ORIGIN',
      `${meta.name} originated on ${meta.origin}, which is not a registered peer of ${this.deps.self}, and nothing vouches for its key`,
      {
        hint: `register ${meta.origin} (\`ingot register server --server ${meta.origin}\`), or take the image from a template or bundle of a server that holds it; nothing was kept`,
      },
    );
  }

  /** Checks an offer's signature with its origin's key; throws BAD_SIGNATURE naming whose. */
  async checkOffer(meta: OfferMeta, vouchedKey: string | undefined): Promise<void> {
    const key = await this.forOffer(meta, vouchedKey);
    if (verifyDigestSignature(key.pem, meta.digest, meta.signature)) return;
    throw badSignature(meta, key, this.deps.self, 'offer');
  }

  /**
   * Checks a listed image's signature: 'checked', or 'unchecked' when its origin is neither
   * this server nor a registered peer (it came vouched for by one); throws BAD_SIGNATURE.
   */
  async checkImage(image: ImageRecord): Promise<'checked' | 'unchecked'> {
    const key = await this.pinned(image.origin);
    if (!key) return 'unchecked';
    if (image.signature && verifyDigestSignature(key.pem, image.digest, image.signature)) return 'checked';
    throw badSignature(image, key, this.deps.self, 'image');
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
  return new IngotError('BAD_SIGNATURE', message, { details: { digest: m.digest, origin: m.origin }, hint });
}

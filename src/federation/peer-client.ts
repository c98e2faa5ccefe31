import type { PeerCertificate } from 'node:tls';
import { Agent } from 'undici';
import { IngotError } from '../core/errors.js';
import type { InstantiationFilter } from '../core/filters.js';
import type { Digest } from '../core/manifest.js';
import type { SignedDocument } from '../core/signatures.js';
import { decodeFrames, frameBody } from '../store/frame-codec.js';
import { type ApiClient, createHttpClient } from '../transfer/http-client.js';
import type {
  DeltaBase,
  ImageOffer,
  ImageSink,
  ImageSource,
  OfferMeta,
  SinkStatus,
} from '../transfer/image-sides.js';
import {
  CHUNK_STREAM_TYPE,
  type MovingChunk,
  type PutAnswer,
  type References,
  type WireSize,
} from '../transfer/ports.js';
import { peerUnreachable, wrongCertificate } from './peer-trust.js';
import { offerToJson } from './signed-document.js';
import type { TlsIdentity } from './tls-identity.js';
import type { PeerRecord } from './types.js';

/**
 * This server dialling a peer's API over mutual TLS. The peer must show exactly the
 * certificate pinned at registration (it is the only CA, and its fingerprint is checked
 * again, since host names play no part); we show ours, which the peer pinned likewise.
 */
export class PeerClient {
  private readonly agent: Agent;
  private readonly http: ApiClient;

  constructor(
    readonly peer: PeerRecord,
    tls: TlsIdentity,
  ) {
    // The peer must show its pinned certificate; a peer that shows another or refuses ours
    // is PEER_UNTRUSTED, not unreachable (peer-trust.ts).
    this.agent = new Agent({
      connections: 16,
      bodyTimeout: 120_000,
      headersTimeout: 120_000,
      connect: {
        key: tls.keyPem,
        cert: tls.certPem,
        ca: [peer.certPem],
        rejectUnauthorized: true,
        checkServerIdentity: (_host: string, cert: PeerCertificate) => wrongCertificate(peer, cert),
      },
    });
    this.http = createHttpClient(peer.endpoint, {
      dispatcher: this.agent,
      unreachable: (base, err) => peerUnreachable(peer, tls, base, err),
    });
  }

  hello(): Promise<{ name: string; version: string }> {
    return this.http.json('GET', '/peer/v1/hello');
  }

  /** The peer's own images that match `filter`, as it would push them. */
  async offered(filter: InstantiationFilter): Promise<OfferMeta[]> {
    return (await this.http.json<{ images: OfferMeta[] }>('POST', '/peer/v1/offers', { filter })).images;
  }

  instantiate(filter: InstantiationFilter): Promise<{ created: boolean; images: OfferMeta[] }> {
    return this.http.json('POST', '/peer/v1/instantiations', { filter });
  }

  uninstantiate(filter: InstantiationFilter): Promise<{ removed: boolean }> {
    return this.http.json('POST', '/peer/v1/instantiations/remove', { filter });
  }

  /** The latest published version of one of the peer's templates, as it signed it. */
  template(name: string): Promise<SignedDocument> {
    return this.http.json('GET', `/peer/v1/templates/${encodeURIComponent(name)}`);
  }

  /**
   * The peer as the sending end (pull). One per transfer: the offer it fetched names the
   * image that every chunk request then names (the peer grants only that image's chunks),
   * and says whether the peer sends deltas; the base it agrees to is granted likewise.
   * With `filter`, the peer offers what an instantiation by it would push (a dry run's view).
   */
  source(filter?: InstantiationFilter): ImageSource {
    let image: Digest | undefined;
    let deltas = false;
    let base: Digest | undefined;
    const bodyOf = (digests: readonly Digest[], references?: References) =>
      references
        ? { image, digests, base, references: references.map((refs) => refs ?? null) }
        : { image, digests };
    return {
      offer: async (name) => {
        type Offered = OfferMeta & { manifest: string; deltas?: boolean };
        const path = `/peer/v1/${filter ? 'offers' : 'images'}/${encodeURIComponent(name)}`;
        const { deltas: speaks, ...r } = filter
          ? await this.http.json<Offered>('POST', path, { filter })
          : await this.http.json<Offered>('GET', path);
        image = r.digest;
        deltas = speaks === true;
        return { ...r, manifest: Buffer.from(r.manifest, 'base64') } satisfies ImageOffer;
      },
      deltaBase: async (bases) => {
        if (!deltas) return undefined;
        const r = await this.http.json<{ base: DeltaBase | null }>('POST', '/peer/v1/bases', {
          image,
          bases,
        });
        base = r.base?.digest;
        return r.base ?? undefined;
      },
      fetch: async (digests, references) =>
        decodeFrames(await this.http.download('/peer/v1/chunks/fetch', bodyOf(digests, references)), {
          lend: true,
          deltas: true,
        }),
      // A peer that sends no deltas predates this question too: it cannot say.
      wireSizes: async (digests, references) => {
        if (!deltas) return undefined;
        const r = await this.http.json<{ sizes: WireSize[] }>(
          'POST',
          '/peer/v1/chunks/sizes',
          bodyOf(digests, references),
        );
        return r.sizes;
      },
      done: async (result) => {
        const word = { image, outcome: result.outcome, bytesPresent: result.bytesPresent };
        // A peer older than this word answers 404; the pull stands either way.
        await this.http.json('POST', '/peer/v1/transfers/done', word).catch(() => undefined);
      },
    };
  }

  /**
   * The peer as the receiving end (push). One per transfer: the offer it checked (manifest
   * included, so the peer knows which chunks to expect) names the image of every request.
   */
  sink(): ImageSink {
    let image: Digest | undefined;
    /** Named by a peer that takes deltas (one that does not names none). */
    let bases: readonly DeltaBase[] = [];
    return {
      prepare: async (offer) => {
        const r = await this.http.json<{ status: SinkStatus; bases?: DeltaBase[] }>(
          'POST',
          '/peer/v1/replicas/check',
          { ...metaOf(offer), manifest: offer.manifest.toString('base64') },
        );
        image = offer.digest;
        bases = r.bases ?? [];
        return r.status;
      },
      deltaBases: async () => bases,
      commit: async (offer) =>
        (
          await this.http.json<{ status: SinkStatus }>('POST', '/peer/v1/replicas', {
            ...metaOf(offer),
            manifest: offer.manifest.toString('base64'),
          })
        ).status,
      missing: async (digests) =>
        (await this.http.json<{ missing: Digest[] }>('POST', '/peer/v1/chunks/missing', { image, digests }))
          .missing,
      put: (chunks: AsyncIterable<MovingChunk>) =>
        this.http.upload<PutAnswer>(
          `/peer/v1/chunks?image=${image ?? ''}`,
          frameBody(chunks, { deltas: bases.length > 0 }),
          CHUNK_STREAM_TYPE,
        ),
    };
  }

  /** Cuts every connection at once (unregister) and refuses further calls. */
  async destroy(): Promise<void> {
    await this.agent.destroy(new IngotError('FORBIDDEN', `peer ${this.peer.name} was unregistered`));
  }
}

/** Only the offer's fields, never the manifest bytes or anything else riding along. */
function metaOf(m: OfferMeta): OfferMeta {
  return offerToJson(m) as unknown as OfferMeta;
}

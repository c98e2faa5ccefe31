import { type Static, Type } from 'typebox';
import { IngotError } from '../../core/errors.js';
import { parseFilter } from '../../core/filters.js';
import type { Digest } from '../../core/manifest.js';
import { parseImageState } from '../../core/states.js';
import {
  deltaBasesFor,
  firstOffered,
  localSink,
  localSource,
  type OfferPolicy,
  offerMeta,
  ownImages,
} from '../../federation/local-sides.js';
import type { Admission } from '../../federation/replica.service.js';
import { MAX_KEY_PEM } from '../../federation/signed-document.js';
import type { PeerRecord } from '../../federation/types.js';
import { decodeFrames } from '../../store/frame-codec.js';
import { type ReceiveTotals, receiveChunks, serveMoving, wireSizes } from '../../transfer/chunk-receiver.js';
import type { OfferMeta } from '../../transfer/image-sides.js';
import { throttled } from '../../transfer/rate-limit.js';
import { chunkStreamBody, sendChunkStream } from '../chunk-stream.js';
import { PEER_BODY_BYTES } from '../limits.js';
import type { PeerApp } from '../peer-app.js';
import { DigestList, DigestSchema, NameSchema, ReferenceLists, referencesOf } from '../schemas.js';

const FilterBody = Type.Object({
  filter: Type.Object({
    kind: Type.Union([
      Type.Literal('all'),
      Type.Literal('image'),
      Type.Literal('series'),
      Type.Literal('imagetype'),
    ]),
    value: Type.Optional(Type.String({ maxLength: 64 })),
    state: Type.String({ maxLength: 16 }),
  }),
});

const OfferMetaBody = Type.Object({
  name: Type.String({ maxLength: 64 }),
  digest: DigestSchema,
  origin: Type.String({ maxLength: 64 }),
  signature: Type.String({ maxLength: 256 }),
  state: Type.String({ maxLength: 16 }),
  imageType: Type.String({ maxLength: 64 }),
  baseType: Type.String({ maxLength: 16 }),
  size: Type.Integer({ minimum: 0 }),
  originKey: Type.Optional(Type.String({ maxLength: MAX_KEY_PEM })),
});

const OfferBodySchema = Type.Intersect([
  OfferMetaBody,
  Type.Object({ manifest: Type.String({ maxLength: PEER_BODY_BYTES }) }),
]);
type OfferBody = Static<typeof OfferBodySchema>;

/** A chunk request names the image whose transfer it belongs to (see TransferGrants). */
const BoundDigestList = Type.Intersect([DigestList, Type.Object({ image: DigestSchema })]);
/**
 * A data request may add, per digest, a chunk of the agreed base (`base`) to send it as a
 * delta against (null: whole).
 */
const FetchBody = Type.Intersect([
  BoundDigestList,
  Type.Object({
    base: Type.Optional(DigestSchema),
    references: Type.Optional(ReferenceLists),
  }),
]);
const BaseRef = Type.Object({ name: Type.String({ maxLength: 64 }), digest: DigestSchema });
const BasesBody = Type.Object({
  image: DigestSchema,
  bases: Type.Array(BaseRef, { maxItems: 8 }),
});
const ImageQuery = Type.Object({ image: DigestSchema });
/** A puller's word that its pull ended well: the serving side's record of it is done. */
const DoneBody = Type.Object({
  image: DigestSchema,
  outcome: Type.Union([Type.Literal('created'), Type.Literal('present')]),
  bytesPresent: Type.Integer({ minimum: 0 }),
});
/** A chunk upload: a chunk stream (415 otherwise), bound to the image of its transfer. */
const ChunkUpload = { onRequest: chunkStreamBody, schema: { querystring: ImageQuery } };

/** What a peer may pull: this server's own published images, and whatever its templates name. */
function pullPolicy(app: PeerApp): OfferPolicy {
  const own = ownImages(app.deps.local.keys, ['PUBLISHED']);
  return async (image) => (await own(image)) || (await app.deps.templates.serves(image.name, image.digest));
}

/** The digests a DIGEST_MISMATCH refusal names (none for any other error). */
function rejectedBy(err: unknown): Digest[] {
  if (!(err instanceof IngotError) || err.code !== 'DIGEST_MISMATCH') return [];
  return ((err.details?.rejected ?? []) as { digest: Digest }[]).map((r) => r.digest);
}

export function peerRoutes(app: PeerApp): void {
  const { deps } = app;
  const me = (peer: PeerRecord | undefined): PeerRecord => {
    if (!peer) throw new IngotError('FORBIDDEN', 'no peer identified');
    return peer;
  };
  const filterOf = (body: { filter: { kind: string; value?: string | undefined; state: string } }) => {
    const f = body.filter;
    return parseFilter({ [f.kind]: f.kind === 'all' ? true : f.value, state: f.state });
  };
  const metaOf = (b: Omit<OfferMeta, 'digest' | 'state'> & { digest: string; state: string }): OfferMeta => ({
    ...b,
    digest: b.digest as Digest,
    state: parseImageState(b.state),
  });

  app.get('/peer/v1/hello', async () => ({ name: deps.clusterName, version: deps.version }));

  app.post('/peer/v1/offers', { schema: { body: FilterBody } }, async (request) => {
    const images = await deps.replication.matching(filterOf(request.body));
    return { images: await Promise.all(images.map((i) => offerMeta(deps.local, i))) };
  });

  app.post('/peer/v1/instantiations', { schema: { body: FilterBody } }, async (request) => {
    const r = await deps.replication.instantiate(me(request.peer).name, filterOf(request.body));
    return { created: r.created, images: await Promise.all(r.images.map((i) => offerMeta(deps.local, i))) };
  });

  app.post('/peer/v1/instantiations/remove', { schema: { body: FilterBody } }, async (request) => ({
    removed: await deps.replication.uninstantiate(me(request.peer).name, filterOf(request.body)),
  }));

  /** The offer of one image and the grant of its chunks: a pull's first step, or a dry run's. */
  const offerTo = async (peerName: string, name: string, policy: OfferPolicy) => {
    const offer = await localSource(deps.local, policy, peerName).offer(name);
    await deps.grants.grant(peerName, 'read', offer.digest, offer.manifest);
    deps.transfers.begin(peerName, 'out', offer);
    // deltas: this server sends delta frames when asked (frame stream version 2).
    return { ...offer, manifest: offer.manifest.toString('base64'), deltas: true };
  };

  app.get(
    '/peer/v1/images/:name',
    { schema: { params: Type.Object({ name: NameSchema }) } },
    async (request) => offerTo(me(request.peer).name, request.params.name, pullPolicy(app)),
  );

  // An image as an instantiation by `filter` would push it (any state the filter names, not
  // only PUBLISHED as a pull): what a dry run of that instantiation reads to count its bytes.
  app.post(
    '/peer/v1/offers/:name',
    { schema: { params: Type.Object({ name: NameSchema }), body: FilterBody } },
    async (request) => {
      const filter = filterOf(request.body);
      const policy: OfferPolicy = (image) => deps.replication.matches(filter, image);
      return offerTo(me(request.peer).name, request.params.name, policy);
    },
  );

  /**
   * Grants live in the node that made them, and behind a balancer a puller's next request
   * may reach another node of this server: that node makes the read grant again, by the
   * offer's own checks, for the image held under that digest (a peer gets nothing it could
   * not have been offered).
   */
  const regrant = async (peer: string, digest: string | undefined) => {
    if (digest === undefined || deps.grants.image(peer, 'read', digest as Digest)) return;
    const image = await deps.local.catalog.findImageByDigest(digest as Digest);
    if (!image) return;
    const offer = await localSource(deps.local, pullPolicy(app), peer)
      .offer(image.name)
      .catch(() => undefined);
    if (offer?.digest === digest) await deps.grants.grant(peer, 'read', offer.digest, offer.manifest);
  };

  /** Of the puller's bases, the first this server would offer too; its chunks are granted as references. */
  app.post('/peer/v1/bases', { schema: { body: BasesBody } }, async (request) => {
    const peer = me(request.peer);
    await regrant(peer.name, request.body.image);
    await deps.grants.check(peer.name, 'read', request.body.image, []);
    const bases = request.body.bases.map((b) => ({ name: b.name, digest: b.digest as Digest }));
    const base = await firstOffered(deps.local, bases, pullPolicy(app));
    if (!base) return { base: null };
    const { bytes } = await deps.local.images.manifestBytes(base.name);
    await deps.grants.grant(peer.name, 'read', base.digest, bytes);
    return { base };
  });

  app.post('/peer/v1/chunks/missing', { schema: { body: BoundDigestList } }, async (request) => {
    const digests = request.body.digests as Digest[];
    const peer = me(request.peer).name;
    await deps.grants.check(peer, 'write', request.body.image, digests);
    const missing = await deps.local.store.missing(digests);
    deps.transfers.asked(peer, request.body.image as Digest, digests, missing);
    return { missing };
  });

  app.put('/peer/v1/chunks', ChunkUpload, async (request) => {
    const peer = me(request.peer);
    const limiter = deps.limits.forPeer(peer.name, peer.maxRate);
    const received = deps.metrics.peerBytes.labels({ peer: peer.name, direction: 'received' });
    const image = request.query.image as Digest;
    const frames = deps.grants.checked(
      peer.name,
      image,
      decodeFrames(request.body as AsyncIterable<Buffer>, { lend: true, deltas: true }),
    );
    const count = deps.transfers.counter(peer.name, 'in', image);
    let totals: ReceiveTotals;
    try {
      totals = await receiveChunks(
        deps.local.store,
        throttled(frames, limiter, (n, c) => {
          received.inc(n);
          count?.(c, n);
        }),
        deps.local.counter,
      );
    } catch (err) {
      deps.transfers.unsettled(peer.name, image, rejectedBy(err));
      throw err;
    }
    deps.transfers.unsettled(
      peer.name,
      image,
      totals.refused.map((r) => r.digest),
    );
    if (totals.refused.length > 0) {
      request.log.warn(
        { peer: peer.name, refused: totals.refused.slice(0, 10), count: totals.refused.length },
        'delta chunks refused; the sender sends them whole',
      );
    }
    return {
      received: totals.received,
      stored: totals.stored,
      storedBytes: totals.storedBytes,
      refused: totals.refused.map((r) => r.digest),
    };
  });

  /** A data request's chunks and references, each checked against the peer's read grants. */
  const granted = async (peer: PeerRecord, body: Static<typeof FetchBody>) => {
    const digests = body.digests as Digest[];
    const references = referencesOf(digests, body.references);
    await regrant(peer.name, body.image);
    await deps.grants.check(peer.name, 'read', body.image, digests);
    if (references) {
      await regrant(peer.name, body.base);
      await deps.grants.check(
        peer.name,
        'read',
        body.base,
        references.flatMap((refs) => refs ?? []),
      );
    }
    return { digests, references };
  };

  /** What a fetch of these would send, chunk by chunk, without sending it (a dry run). */
  app.post('/peer/v1/chunks/sizes', { schema: { body: FetchBody } }, async (request) => {
    const { digests, references } = await granted(me(request.peer), request.body);
    return { sizes: await wireSizes(deps.local.store, digests, references) };
  });

  app.post('/peer/v1/chunks/fetch', { schema: { body: FetchBody } }, async (request, reply) => {
    const peer = me(request.peer);
    const { digests, references } = await granted(peer, request.body);
    const chunks = await serveMoving(deps.local.store, digests, references, () =>
      deps.metrics.chunksServed.inc(),
    );
    const limiter = deps.limits.forPeer(peer.name, peer.maxRate);
    const sent = deps.metrics.peerBytes.labels({ peer: peer.name, direction: 'sent' });
    const count = deps.transfers.counter(peer.name, 'out', request.body.image as Digest);
    const counted = throttled(chunks, limiter, (n, c) => {
      sent.inc(n);
      count?.(c, n);
    });
    await sendChunkStream(reply, counted, { deltas: references !== undefined });
  });

  app.post('/peer/v1/transfers/done', { schema: { body: DoneBody } }, async (request) => {
    const { image, outcome, bytesPresent } = request.body;
    await deps.transfers.finish(me(request.peer).name, 'out', image as Digest, {
      state: 'done',
      outcome,
      bytesPresent,
    });
    return {};
  });

  /** A push this server asked for (an instantiation) keeps its state; an unasked one is an upload. */
  const admission = async (peer: PeerRecord): Promise<Admission> => {
    if ((await deps.peers.subscriptions(peer.name)).length > 0) return { kind: 'own' };
    if (peer.allowUploads) return { kind: 'upload' };
    throw new IngotError(
      'FORBIDDEN',
      `${deps.clusterName} did not ask ${peer.name} for images and takes no uploads from it`,
      {
        hint: `on ${deps.clusterName}: \`ingot instantiate image --server ${peer.name} ...\`, or allow uploads with \`ingot modify peerserver --server ${peer.name} --allow-uploads on\``,
      },
    );
  };

  app.get(
    '/peer/v1/templates/:name',
    { schema: { params: Type.Object({ name: NameSchema }) } },
    async (request) => deps.templates.latestDocument(request.params.name),
  );

  /** A peer's offer (meta and manifest) and the sink that judges it as that peer's. */
  const offered = async (request: { peer?: PeerRecord | undefined; body: OfferBody }) => {
    const { manifest, ...meta } = request.body;
    const peer = me(request.peer);
    const how = await admission(peer);
    const offer = { ...metaOf(meta), manifest: Buffer.from(manifest, 'base64') };
    return { peer, offer, sink: localSink(deps.local, peer, () => how) };
  };

  app.post('/peer/v1/replicas/check', { schema: { body: OfferBodySchema } }, async (request) => {
    const { peer, offer, sink } = await offered(request);
    const status = await sink.prepare(offer);
    if (status !== 'needed') return { status };
    // Offer checked (origin, signature, name): its chunks may now come, and only they, as
    // well as deltas against the bases named here (this server takes delta frames).
    const bases = await deltaBasesFor(deps.local, offer);
    const manifests = await Promise.all(
      bases.map(async (b) => (await deps.local.images.manifestBytes(b.name)).bytes),
    );
    await deps.grants.grant(peer.name, 'write', offer.digest, offer.manifest, manifests);
    deps.transfers.begin(peer.name, 'in', offer);
    return { status, bases };
  });

  app.post('/peer/v1/replicas', { schema: { body: OfferBodySchema } }, async (request) => {
    const { peer, offer, sink } = await offered(request);
    let status: Awaited<ReturnType<typeof sink.commit>>;
    try {
      status = await sink.commit(offer);
    } catch (err) {
      const error = err instanceof IngotError ? `${err.code}: ${err.message}` : String(err);
      await deps.transfers.finish(peer.name, 'in', offer.digest, { state: 'failed', error });
      throw err;
    }
    const outcome = status === 'present' ? 'present' : 'created';
    await deps.transfers.finish(peer.name, 'in', offer.digest, { state: 'done', outcome });
    await deps.grants.revoke(peer.name, 'write', offer.digest);
    return { status };
  });
}

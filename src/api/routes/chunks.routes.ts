import { Type } from 'typebox';
import type { Digest } from '../../core/manifest.js';
import type { ChunkStore } from '../../store/chunk-store.js';
import { decodeFrames } from '../../store/frame-codec.js';
import { SIGNATURE_BLOCK } from '../../store/patch-codec.js';
import { receiveChunks, serveMoving } from '../../transfer/chunk-receiver.js';
import { signaturesOf } from '../../transfer/patch-chunks.js';
import { CHUNK_STREAM_TYPE } from '../../transfer/ports.js';
import type { ApiApp } from '../app.js';
import { chunkStreamBody, sendChunkStream } from '../chunk-stream.js';
import { CHUNK_LIST_BODY_BYTES } from '../limits.js';
import { receiveCounter } from '../metrics.js';
import { DigestList, DigestSchema, errorResponses, ReferenceLists, referencesOf } from '../schemas.js';

/** Chunks signed per request: 1024 chunks of 64 KiB are ~64 MiB read and 384 KiB answered. */
const SIGNATURES_MAX = 1024;

const UploadQuery = Type.Object({
  upload: Type.Optional(
    Type.String({
      maxLength: 64,
      description: 'a bundle upload (POST /api/v1/bundles/uploads): the chunks are staged for it',
    }),
  ),
});

export function chunkRoutes(app: ApiApp): void {
  const { metrics, bundleUploads } = app.deps;
  /** The main store, or the staging store of a bundle upload the request names. */
  const storeFor = (q: { upload?: string | undefined }): ChunkStore =>
    q.upload === undefined ? app.deps.store : bundleUploads.store(q.upload);
  const counter = receiveCounter(metrics);

  app.post(
    '/api/v1/chunks/missing',
    {
      schema: {
        summary: 'Which of these chunks does the server lack? (the have/want question)',
        tags: ['chunks'],
        body: DigestList,
        querystring: UploadQuery,
        response: { 200: Type.Object({ missing: Type.Array(DigestSchema) }), ...errorResponses },
      },
    },
    async (request) => ({ missing: await storeFor(request.query).missing(request.body.digests as Digest[]) }),
  );

  app.put(
    '/api/v1/chunks',
    {
      onRequest: chunkStreamBody,
      schema: {
        summary:
          'Upload chunks as a framed stream (see docs/store-format.md); each is verified before it is stored',
        tags: ['chunks'],
        consumes: [CHUNK_STREAM_TYPE],
        querystring: UploadQuery,
        response: {
          200: Type.Object({
            received: Type.Integer(),
            stored: Type.Integer(),
            storedBytes: Type.Integer(),
            refused: Type.Array(DigestSchema, {
              description: 'delta chunks not stored (store-format §12.4)',
            }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const totals = await receiveChunks(
        storeFor(request.query),
        decodeFrames(request.body as AsyncIterable<Buffer>, { lend: true, deltas: true }),
        counter,
      );
      return {
        received: totals.received,
        stored: totals.stored,
        storedBytes: totals.storedBytes,
        refused: totals.refused.map((r) => r.digest),
      };
    },
  );

  app.post(
    '/api/v1/chunks/signatures',
    {
      schema: {
        summary:
          "Block signatures of chunks the server holds, for a client that lacks them to upload its chunks as patches against them (docs/store-format.md §7, 'Patches')",
        tags: ['chunks'],
        body: Type.Object({ digests: Type.Array(DigestSchema, { maxItems: SIGNATURES_MAX }) }),
        response: {
          200: Type.Object({
            blockBytes: Type.Integer({ description: 'the signed block size' }),
            signatures: Type.Array(Type.Union([Type.String({ contentEncoding: 'base64' }), Type.Null()]), {
              description: 'per digest asked, in order: its signatures, or null where the chunk is not held',
            }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const signed = await signaturesOf(app.deps.store, request.body.digests as Digest[]);
      return { blockBytes: SIGNATURE_BLOCK, signatures: signed.map((s) => s?.toString('base64') ?? null) };
    },
  );

  app.post(
    '/api/v1/chunks/fetch',
    {
      bodyLimit: CHUNK_LIST_BODY_BYTES,
      schema: {
        summary:
          'Download chunks as a framed stream, in the order asked; with references, as deltas against them where that saves enough',
        tags: ['chunks'],
        body: Type.Intersect([DigestList, Type.Object({ references: Type.Optional(ReferenceLists) })]),
        produces: [CHUNK_STREAM_TYPE],
        response: { ...errorResponses },
      },
    },
    async (request, reply) => {
      const digests = request.body.digests as Digest[];
      const references = referencesOf(digests, request.body.references);
      const chunks = await serveMoving(app.deps.store, digests, references, () => metrics.chunksServed.inc());
      await sendChunkStream(reply, chunks, { deltas: references !== undefined });
    },
  );
}

import { Type } from '@fastify/type-provider-typebox';
import type { Digest } from '../../core/manifest.js';
import { decodeFrames } from '../../store/frame-codec.js';
import { receiveChunks, serveMoving } from '../../transfer/chunk-receiver.js';
import { CHUNK_STREAM_TYPE } from '../../transfer/ports.js';
import type { ApiApp } from '../app.js';
import { chunkStreamBody, sendChunkStream } from '../chunk-stream.js';
import { CHUNK_LIST_BODY_BYTES } from '../limits.js';
import { receiveCounter } from '../metrics.js';
import { DigestList, DigestSchema, errorResponses, ReferenceLists, referencesOf } from '../schemas.js';

export function chunkRoutes(app: ApiApp): void {
  const { store, metrics } = app.deps;
  const counter = receiveCounter(metrics);

  app.post(
    '/api/v1/chunks/missing',
    {
      schema: {
        summary: 'Which of these chunks does the server lack? (the have/want question)',
        tags: ['chunks'],
        body: DigestList,
        response: { 200: Type.Object({ missing: Type.Array(DigestSchema) }), ...errorResponses },
      },
    },
    async (request) => ({ missing: await store.missing(request.body.digests as Digest[]) }),
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
        store,
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
      const chunks = await serveMoving(store, digests, references, () => metrics.chunksServed.inc());
      await sendChunkStream(reply, chunks, { deltas: references !== undefined });
    },
  );
}

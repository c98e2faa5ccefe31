import { Type } from '@fastify/type-provider-typebox';
import type { Digest } from '../../core/manifest.js';
import { decodeFrames } from '../../store/frame-codec.js';
import { receiveChunks, serveChunks } from '../../transfer/chunk-receiver.js';
import { CHUNK_STREAM_TYPE } from '../../transfer/ports.js';
import type { ApiApp } from '../app.js';
import { sendChunkStream } from '../chunk-stream.js';
import { receiveCounter } from '../metrics.js';
import { DigestList, DigestSchema, errorResponses } from '../schemas.js';

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
      schema: {
        summary:
          'Upload chunks as a framed stream (see docs/store-format.md); each is verified before it is stored',
        tags: ['chunks'],
        consumes: [CHUNK_STREAM_TYPE],
        response: {
          200: Type.Object({ received: Type.Integer(), stored: Type.Integer(), storedBytes: Type.Integer() }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const totals = await receiveChunks(
        store,
        decodeFrames(request.body as AsyncIterable<Buffer>, { lend: true }),
        counter,
      );
      return { received: totals.received, stored: totals.stored, storedBytes: totals.storedBytes };
    },
  );

  app.post(
    '/api/v1/chunks/fetch',
    {
      schema: {
        summary: 'Download chunks as a framed stream, in the order asked',
        tags: ['chunks'],
        body: DigestList,
        produces: [CHUNK_STREAM_TYPE],
        response: { ...errorResponses },
      },
    },
    async (request, reply) => {
      const chunks = await serveChunks(store, request.body.digests as Digest[], () =>
        metrics.chunksServed.inc(),
      );
      await sendChunkStream(reply, chunks);
    },
  );
}

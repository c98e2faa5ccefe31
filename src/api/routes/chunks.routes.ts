import { Readable } from 'node:stream';
import { Type } from '@fastify/type-provider-typebox';
import { IngotError } from '../../core/errors.js';
import type { Digest } from '../../core/manifest.js';
import { decodeFrames, encodeFrames } from '../../store/frame-codec.js';
import { CHUNK_STREAM_TYPE } from '../../transfer/ports.js';
import type { ApiApp } from '../app.js';
import { DigestList, DigestSchema, errorResponses } from '../schemas.js';

/** Frames are stored in groups so one fsync covers many chunks. */
const STORE_GROUP_BYTES = 8 * 1024 * 1024;

export function chunkRoutes(app: ApiApp): void {
  const { store, metrics } = app.deps;

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
      const totals = { received: 0, stored: 0, storedBytes: 0 };
      const rejected: { digest: string; found: string }[] = [];
      let group: { digest: Digest; chunk: { encoding: 'raw' | 'zstd'; payload: Buffer } }[] = [];
      let groupBytes = 0;
      const flush = async () => {
        if (group.length === 0) return;
        const r = await store.putManyEncoded(group);
        totals.stored += r.stored;
        totals.storedBytes += r.storedBytes;
        rejected.push(...r.rejected);
        metrics.chunksReceived.inc({ result: 'stored' }, r.stored);
        metrics.chunksReceived.inc({ result: 'present' }, r.present);
        metrics.chunksReceived.inc({ result: 'rejected' }, r.rejected.length);
        metrics.chunkBytesStored.inc(r.storedBytes);
        group = [];
        groupBytes = 0;
      };
      try {
        for await (const frame of decodeFrames(request.body as AsyncIterable<Buffer>)) {
          totals.received++;
          group.push({ digest: frame.digest, chunk: frame.encoded });
          groupBytes += frame.encoded.payload.length;
          if (groupBytes >= STORE_GROUP_BYTES) await flush();
        }
      } finally {
        // What arrived whole is verified and kept even when the stream broke, so a retry
        // does not send it again.
        await flush();
      }
      if (rejected.length > 0) {
        throw new IngotError('DIGEST_MISMATCH', `${rejected.length} chunk(s) did not match their digest`, {
          details: { rejected: rejected.slice(0, 10) },
          hint: 'the data changed in transit or on the client; nothing of those chunks was stored',
        });
      }
      return totals;
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
      const digests = request.body.digests as Digest[];
      const absent = await store.missing(digests);
      if (absent.length > 0) {
        throw new IngotError(
          'MISSING_CHUNKS',
          `${absent.length} of the chunks asked for are not stored here`,
          {
            details: { missing: absent.slice(0, 10) },
          },
        );
      }
      const frames = encodeFrames(
        (async function* () {
          for (const digest of digests) {
            const c = await store.getEncoded(digest);
            metrics.chunksServed.inc();
            yield { digest, encoded: { encoding: c.encoding, payload: c.payload }, rawLength: c.raw.length };
          }
        })(),
      );
      return reply.type(CHUNK_STREAM_TYPE).send(Readable.from(frames));
    },
  );
}

import type { Digest } from '../core/manifest.js';
import { decodeFrames, frameBody } from '../store/frame-codec.js';
import type { ApiClient } from '../transfer/http-client.js';
import {
  CHUNK_STREAM_TYPE,
  type ChunkSink,
  type ChunkSource,
  type MovingChunk,
  type PutAnswer,
  type TransferSink,
} from '../transfer/ports.js';

/**
 * The server's chunk API seen through the transfer ports, so upload and deploy share them.
 * With `deltas` (a bundle that carries some) uploads are version 2 streams, which a server
 * older than deltas refuses; without, version 1 as ever.
 */
export function httpChunkRemote(
  client: ApiClient,
  opts: { readonly deltas?: boolean; readonly upload?: string } = {},
): ChunkSink & TransferSink & ChunkSource {
  // A bundle upload's chunks are staged for it (POST /api/v1/bundles/uploads).
  const query = opts.upload === undefined ? '' : `?upload=${encodeURIComponent(opts.upload)}`;
  return {
    async missing(digests: readonly Digest[]) {
      const res = await client.json<{ missing: Digest[] }>('POST', `/api/v1/chunks/missing${query}`, {
        digests,
      });
      return res.missing;
    },
    async put(chunks: AsyncIterable<MovingChunk>) {
      return client.upload<PutAnswer>(`/api/v1/chunks${query}`, frameBody(chunks, opts), CHUNK_STREAM_TYPE);
    },
    async fetch(digests: readonly Digest[]) {
      return decodeFrames(await client.download('/api/v1/chunks/fetch', { digests }));
    },
  };
}

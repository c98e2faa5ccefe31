import type { Digest } from '../core/manifest.js';
import { decodeFrames, frameBody } from '../store/frame-codec.js';
import type { ApiClient } from '../transfer/http-client.js';
import { CHUNK_STREAM_TYPE, type ChunkSink, type ChunkSource, type WireChunk } from '../transfer/ports.js';

/** The server's chunk API seen through the transfer ports, so upload and deploy share them. */
export function httpChunkRemote(client: ApiClient): ChunkSink & ChunkSource {
  return {
    async missing(digests: readonly Digest[]) {
      const res = await client.json<{ missing: Digest[] }>('POST', '/api/v1/chunks/missing', { digests });
      return res.missing;
    },
    async put(chunks: AsyncIterable<WireChunk>) {
      return client.upload<{ stored: number; storedBytes: number }>(
        '/api/v1/chunks',
        frameBody(chunks),
        CHUNK_STREAM_TYPE,
      );
    },
    async fetch(digests: readonly Digest[]) {
      return decodeFrames(await client.download('/api/v1/chunks/fetch', { digests }));
    },
  };
}

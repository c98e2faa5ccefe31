import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IngotError } from '../core/errors.js';
import { socketBuffers } from '../store/buffer-pool.js';
import {
  encodeBlocks,
  type FramedChunk,
  type FrameEncoding,
  SOCKET_WRITE_BYTES,
} from '../store/frame-codec.js';
import { CHUNK_STREAM_TYPE } from '../transfer/ports.js';

/**
 * An upload route's onRequest hook: the body must be a chunk stream, refused before a byte
 * of it is read (a JSON or form body would otherwise be parsed whole, then fail as a 500).
 */
export async function chunkStreamBody(request: FastifyRequest): Promise<void> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === CHUNK_STREAM_TYPE) return;
  throw new IngotError(
    'UNSUPPORTED_MEDIA_TYPE',
    type ? `a chunk upload is ${CHUNK_STREAM_TYPE}, not ${type}` : `a chunk upload has no Content-Type`,
    { hint: `send the framed chunk stream (docs/store-format.md §7) as Content-Type: ${CHUNK_STREAM_TYPE}` },
  );
}

/**
 * Answers a chunk stream (the largest thing either API sends) in pooled 1 MiB writes, each
 * block given back once the socket has taken it (its write callback), so a pull does not
 * leave a gigabyte of dead write buffers for the collector. The reply is hijacked to get
 * those callbacks; onResponse hooks still run. A failure after the first byte cuts the
 * stream, which the receiver reports as truncated (it keeps the whole chunks before it).
 * With `deltas` (the receiver asked for some) the stream is version 2 and may hold them.
 */
export async function sendChunkStream(
  reply: FastifyReply,
  chunks: AsyncIterable<FramedChunk<FrameEncoding>> | Iterable<FramedChunk<FrameEncoding>>,
  opts: { readonly deltas?: boolean } = {},
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': CHUNK_STREAM_TYPE });
  try {
    const blocks = encodeBlocks(chunks, opts, SOCKET_WRITE_BYTES, (n) => socketBuffers.take(n));
    for await (const block of blocks) {
      const room = res.write(block, (err) => {
        if (!err) socketBuffers.give(block);
      });
      if (!room) await drained(res);
    }
    res.end();
  } catch (err) {
    reply.log.warn({ err }, 'chunk stream cut');
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      res.off('close', gone);
      resolve();
    };
    const gone = () => {
      res.off('drain', done);
      reject(new IngotError('UNAVAILABLE', 'the receiver closed the chunk stream'));
    };
    res.once('drain', done);
    res.once('close', gone);
  });
}

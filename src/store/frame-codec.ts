import { Readable } from 'node:stream';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { ChunkEncoding, EncodedChunk } from './chunk-store.js';

/**
 * The wire format for a batch of chunks: uploads, downloads, peer transfer and bundles.
 *
 *   stream = "IGCK" u8(version = 1) frame*
 *   chunk  = u8(1) digest[32] u8(encoding: 0 raw, 1 zstd) u32be(rawLength) u32be(payloadLength) payload
 *   end    = u8(2) u32be(number of chunk frames)
 *
 * The end frame is what tells a complete batch from a cut one. The decoder yields every
 * complete chunk frame as soon as it has it, so a receiver keeps (and verifies) whatever
 * arrived before a failure; it does not check digests (the store does, on put).
 */

export interface FramedChunk {
  readonly digest: Digest;
  readonly encoded: EncodedChunk;
  readonly rawLength: number;
}

export const FRAME_MAGIC = Buffer.from('IGCK', 'ascii');
export const FRAME_VERSION = 1;
export const MAX_FRAME_PAYLOAD = 17 * 1024 * 1024;
const MAX_RAW_LENGTH = 16 * 1024 * 1024;
const CHUNK_FRAME = 1;
const END_FRAME = 2;
/** The bytes before a chunk frame's payload; the stream header is "IGCK" and its version. */
export const CHUNK_HEADER = 1 + 32 + 1 + 4 + 4;
export const STREAM_HEADER = 5;
const ENCODINGS: readonly ChunkEncoding[] = ['raw', 'zstd'];

export async function* encodeFrames(
  chunks: AsyncIterable<FramedChunk> | Iterable<FramedChunk>,
): AsyncGenerator<Buffer> {
  yield Buffer.concat([FRAME_MAGIC, Buffer.of(FRAME_VERSION)]);
  let count = 0;
  for await (const c of chunks) {
    const h = Buffer.allocUnsafe(CHUNK_HEADER);
    h[0] = CHUNK_FRAME;
    if (h.write(c.digest, 1, 32, 'hex') !== 32 || c.digest.length !== 64) {
      throw new IngotError('INVALID_ARGUMENT', `not a chunk digest: ${JSON.stringify(c.digest)}`);
    }
    h[33] = ENCODINGS.indexOf(c.encoded.encoding);
    h.writeUInt32BE(c.rawLength, 34);
    h.writeUInt32BE(c.encoded.payload.length, 38);
    yield h;
    // The payload goes out as its own buffer: no copy of chunk bytes.
    if (c.encoded.payload.length > 0) yield c.encoded.payload;
    count++;
  }
  const end = Buffer.allocUnsafe(5);
  end[0] = END_FRAME;
  end.writeUInt32BE(count, 1);
  yield end;
}

/**
 * With `lend`, payloads are lent (ports.ts): a payload that spans several of the source's
 * buffers is gathered into one scratch buffer used again for the next, valid until the next
 * chunk is asked for. For consumers that copy each chunk at once (a receiver's store group):
 * a fresh 64 KiB buffer per chunk was a GiB of external garbage per GiB received, which set
 * off the collector's full marks.
 */
export async function* decodeFrames(
  source: AsyncIterable<Buffer>,
  opts: { readonly lend?: boolean } = {},
): AsyncGenerator<FramedChunk> {
  const q = new ByteQueue();
  const it = source[Symbol.asyncIterator]();
  /** Pulls until `n` bytes are buffered; false when the source ended first. */
  const need = async (n: number): Promise<boolean> => {
    while (q.length < n) {
      const r = await it.next();
      if (r.done) return false;
      q.push(r.value);
    }
    return true;
  };

  if (!(await need(5))) throw truncated('before the stream header');
  const head = q.take(5);
  if (!head.subarray(0, 4).equals(FRAME_MAGIC)) throw invalid('not a chunk stream (bad magic)');
  if (head[4] !== FRAME_VERSION) throw invalid(`unknown chunk stream version ${head[4]}`);

  let count = 0;
  for (;;) {
    if (!(await need(1))) throw truncated(`after ${count} chunks, without its end frame`);
    const type = q.peekByte();
    if (type === END_FRAME) {
      if (!(await need(5))) throw truncated('inside the end frame');
      const declared = q.take(5).readUInt32BE(1);
      if (declared !== count) {
        throw invalid(`end frame counts ${declared} chunks but ${count} arrived`, {
          expected: declared,
          found: count,
        });
      }
      if (q.length > 0 || !(await it.next()).done) throw invalid('bytes after the end frame');
      return;
    }
    if (type !== CHUNK_FRAME) throw invalid(`unknown frame type ${type}`);
    if (!(await need(CHUNK_HEADER))) throw truncated(`inside the header of chunk ${count + 1}`);
    const h = q.take(CHUNK_HEADER);
    const frame = parseHeader(h);
    if (!(await need(frame.payloadLength))) throw truncated(`inside the payload of chunk ${count + 1}`);
    const payload = opts.lend ? q.lend(frame.payloadLength) : q.take(frame.payloadLength);
    count++;
    yield {
      digest: frame.digest,
      encoded: { encoding: frame.encoding, payload },
      rawLength: frame.rawLength,
    };
  }
}

function parseHeader(h: Buffer) {
  const digest = h.toString('hex', 1, 33) as Digest;
  const encoding = ENCODINGS[h[33] as number];
  if (encoding === undefined) throw invalid(`unknown chunk encoding ${h[33]}`);
  const rawLength = h.readUInt32BE(34);
  const payloadLength = h.readUInt32BE(38);
  if (payloadLength > MAX_FRAME_PAYLOAD || rawLength > MAX_RAW_LENGTH) {
    throw new IngotError('PAYLOAD_TOO_LARGE', `a chunk frame of ${payloadLength} bytes (raw ${rawLength})`, {
      details: { payloadLength, rawLength, max: MAX_FRAME_PAYLOAD },
    });
  }
  if (encoding === 'raw' && payloadLength !== rawLength) {
    throw invalid(`a raw chunk frame with ${payloadLength} payload bytes for ${rawLength} raw bytes`);
  }
  return { digest, encoding, rawLength, payloadLength };
}

function invalid(message: string, details?: Record<string, unknown>): IngotError {
  return new IngotError('INVALID_ARGUMENT', `chunk stream: ${message}`, details ? { details } : {});
}

function truncated(where: string): IngotError {
  return new IngotError('TRUNCATED', `chunk stream ended ${where}`, {
    hint: 'the chunks received before the cut were kept; retry to fetch the rest',
  });
}

/**
 * A FIFO of buffers. `take` returns a view when the bytes lie in one buffer and copies
 * only when they span several, so big payloads that arrive whole are never copied.
 */
class ByteQueue {
  private bufs: Buffer[] = [];
  private head = 0; // offset into bufs[0]
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.bufs.push(b);
    this.length += b.length;
  }

  peekByte(): number {
    return (this.bufs[0] as Buffer)[this.head] as number;
  }

  private scratch = Buffer.alloc(0);

  take(n: number): Buffer {
    return this.view(n) ?? this.gather(Buffer.allocUnsafe(n));
  }

  /** As take, but bytes that span buffers land in the scratch buffer, overwritten by the next. */
  lend(n: number): Buffer {
    const view = this.view(n);
    if (view) return view;
    if (this.scratch.length < n) this.scratch = Buffer.allocUnsafeSlow(2 ** Math.ceil(Math.log2(n)));
    return this.gather(this.scratch.subarray(0, n));
  }

  /** The next `n` bytes as a view, when they lie in one buffer. */
  private view(n: number): Buffer | undefined {
    const first = this.bufs[0];
    if (n === 0) return Buffer.alloc(0);
    if (!first || first.length - this.head < n) return undefined;
    const out = first.subarray(this.head, this.head + n);
    this.advance(n);
    return out;
  }

  private gather(out: Buffer): Buffer {
    const n = out.length;
    let filled = 0;
    while (filled < n) {
      const b = this.bufs[0] as Buffer;
      const k = Math.min(n - filled, b.length - this.head);
      b.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.advance(k);
    }
    return out;
  }

  private advance(n: number): void {
    this.head += n;
    this.length -= n;
    if (this.head === (this.bufs[0] as Buffer).length) {
      this.bufs.shift();
      this.head = 0;
    }
  }
}

/**
 * Frames as ~1 MiB writes for a socket: every yielded Buffer becomes its own write (and,
 * over TLS, its own record), so 42-byte headers between 64 KiB payloads cost more than
 * copying them together does. Every input is copied before the next is asked for, so
 * lent payloads (ports.ts) are safe to reuse behind it. Writes come from `alloc` (a pool's
 * blocks, given back by whoever writes them).
 */
export async function* coalesced(
  buffers: AsyncIterable<Buffer>,
  target = SOCKET_WRITE_BYTES,
  alloc: (n: number) => Buffer = Buffer.allocUnsafe,
): AsyncGenerator<Buffer> {
  let out = alloc(target);
  let size = 0;
  for await (const b of buffers) {
    for (let at = 0; at < b.length; ) {
      const n = b.copy(out, size, at);
      size += n;
      at += n;
      if (size === out.length) {
        yield out;
        out = alloc(target);
        size = 0;
      }
    }
  }
  if (size > 0) yield out.subarray(0, size);
}

/** The size of one socket write of a chunk stream. */
export const SOCKET_WRITE_BYTES = 2 ** 20;

/**
 * A chunk stream as a body for a socket: frames in ~1 MiB writes, read ahead by at most two
 * writes, so a slow link holds ~2 MiB per stream rather than Readable.from's default 16.
 */
export function frameBody(chunks: AsyncIterable<FramedChunk> | Iterable<FramedChunk>): Readable {
  return Readable.from(coalesced(encodeFrames(chunks)), { highWaterMark: 2 });
}

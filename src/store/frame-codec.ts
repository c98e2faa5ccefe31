import { Readable } from 'node:stream';
import { IngotError } from '../core/errors.js';
import { assertDigest, type Digest } from '../core/manifest.js';
import { ByteQueue } from './byte-queue.js';
import type { ChunkEncoding, EncodedChunk } from './chunk-store.js';
import { type BatchReader, batchReader } from './read-batches.js';

/**
 * The wire format for a batch of chunks: uploads, downloads, peer transfer and bundles.
 *
 *   stream = "IGCK" u8(version: 1, or 2 with deltas) frame*
 *   chunk  = u8(1) digest[32] u8(encoding: 0 raw, 1 zstd, 2 delta, 3 patch) u32be(rawLength) u32be(payloadLength) payload
 *   end    = u8(2) u32be(number of chunk frames)
 *   delta payload = u8(n: 1..3) reference digest[32]{n} zstd frame (delta-codec.ts), version 2 only
 *   patch payload = u8(1) reference digest[32] patch (patch-codec.ts), version 2 only
 *
 * A delta's dictionary is its references' bytes back to back, in the order named.
 *
 * The end frame is what tells a complete batch from a cut one. The decoder yields every
 * complete chunk frame as soon as it has it, so a receiver keeps (and verifies) whatever
 * arrived before a failure; it does not check digests (the store does, on put).
 * Version 2 is written and read only where both ends asked for it (`deltas`), so a peer
 * that knows only version 1 keeps getting exactly what it always got.
 */

/**
 * A chunk sent as a delta against chunks (`references`, up to MAX_REFERENCES, their bytes
 * back to back) the receiver holds. A wire form only: the receiver decodes it before
 * storing, so stores never see it.
 */
export interface DeltaChunk {
  readonly encoding: 'delta';
  readonly references: readonly Digest[];
  /** The delta bytes: one zstd frame, or a patch; without the reference list. */
  readonly payload: Buffer;
  /** A patch against its one reference (patch-codec.ts) instead of a zstd frame. */
  readonly patch?: boolean;
}

/** What a chunk frame may carry: a stored form, or (version 2) a delta. */
export type FrameEncoding = EncodedChunk | DeltaChunk;

export interface FramedChunk<E extends FrameEncoding = EncodedChunk> {
  readonly digest: Digest;
  readonly encoded: E;
  readonly rawLength: number;
}

export const FRAME_MAGIC = Buffer.from('IGCK', 'ascii');
export const FRAME_VERSION = 1;
/** The stream version that may hold delta frames. */
export const FRAME_VERSION_DELTAS = 2;
export const MAX_FRAME_PAYLOAD = 17 * 1024 * 1024;
const MAX_RAW_LENGTH = 16 * 1024 * 1024;
const CHUNK_FRAME = 1;
const END_FRAME = 2;
/** The bytes before a chunk frame's payload; the stream header is "IGCK" and its version. */
export const CHUNK_HEADER = 1 + 32 + 1 + 4 + 4;
export const STREAM_HEADER = 5;
const ENCODINGS: readonly (ChunkEncoding | 'delta' | 'patch')[] = ['raw', 'zstd', 'delta', 'patch'];
/** References a delta may name. */
export const MAX_REFERENCES = 3;

/** The bytes a delta payload's reference list takes before the delta itself. */
export function referenceBytes(n: number): number {
  return 1 + 32 * n;
}

type Frames<E extends FrameEncoding> = AsyncIterable<FramedChunk<E>> | Iterable<FramedChunk<E>>;

/** With `deltas`, a version 2 stream, which may hold delta frames; else version 1 as ever. */
export async function* encodeFrames(
  chunks: Frames<FrameEncoding>,
  opts: { readonly deltas?: boolean } = {},
): AsyncGenerator<Buffer> {
  const w = new FrameWriter(opts);
  yield Buffer.from(w.streamHeader());
  for await (const c of chunks) {
    yield Buffer.from(w.header(c));
    // The payload goes out as its own buffer: no copy of chunk bytes.
    if (c.encoded.payload.length > 0) yield c.encoded.payload;
  }
  yield Buffer.from(w.end());
}

/**
 * The frames' bytes but payloads, checked as they are written. Each call's answer is a
 * view of one scratch buffer, valid until the next call.
 */
class FrameWriter {
  private readonly version: number;
  private readonly scratch = Buffer.allocUnsafeSlow(CHUNK_HEADER + referenceBytes(MAX_REFERENCES));
  private count = 0;

  constructor(opts: { readonly deltas?: boolean }) {
    this.version = opts.deltas ? FRAME_VERSION_DELTAS : FRAME_VERSION;
  }

  streamHeader(): Buffer {
    FRAME_MAGIC.copy(this.scratch);
    this.scratch[4] = this.version;
    return this.scratch.subarray(0, STREAM_HEADER);
  }

  header(c: FramedChunk<FrameEncoding>): Buffer {
    const delta = c.encoded.encoding === 'delta' ? c.encoded : undefined;
    if (delta && this.version === FRAME_VERSION) {
      throw invalid(`chunk ${c.digest} is a delta, which a version 1 stream cannot hold`);
    }
    const most = delta?.patch ? 1 : MAX_REFERENCES;
    if (delta && (delta.references.length < 1 || delta.references.length > most)) {
      throw invalid(`chunk ${c.digest} is a delta with ${delta.references.length} references`);
    }
    const extra = delta ? referenceBytes(delta.references.length) : 0;
    const h = this.scratch;
    h[0] = CHUNK_FRAME;
    writeDigest(h, 1, c.digest);
    h[33] = delta?.patch ? ENCODINGS.indexOf('patch') : ENCODINGS.indexOf(c.encoded.encoding);
    h.writeUInt32BE(c.rawLength, 34);
    h.writeUInt32BE(extra + c.encoded.payload.length, 38);
    if (delta) {
      h[CHUNK_HEADER] = delta.references.length;
      for (const [i, r] of delta.references.entries()) writeDigest(h, CHUNK_HEADER + 1 + 32 * i, r);
    }
    this.count++;
    return h.subarray(0, CHUNK_HEADER + extra);
  }

  end(): Buffer {
    this.scratch[0] = END_FRAME;
    this.scratch.writeUInt32BE(this.count, 1);
    return this.scratch.subarray(0, 5);
  }
}

function writeDigest(h: Buffer, at: number, digest: Digest): void {
  assertDigest(digest);
  h.write(digest, at, 32, 'hex');
}

interface DecodeOptions {
  readonly lend?: boolean;
  /** Accept version 2 streams, whose frames may be deltas; version 1 is always accepted. */
  readonly deltas?: boolean;
}

/**
 * With `lend`, payloads are lent (ports.ts): a payload that spans several of the source's
 * buffers is gathered into one scratch buffer used again for the next, valid until the next
 * chunk is asked for. For consumers that copy each chunk at once (a receiver's store group):
 * a fresh 64 KiB buffer per chunk was a GiB of external garbage per GiB received, which set
 * off the collector's full marks. Only with `deltas: true` may a chunk be a DeltaChunk.
 */
export function decodeFrames(
  source: AsyncIterable<Buffer>,
  opts: DecodeOptions & { readonly deltas: true },
): AsyncGenerator<FramedChunk<FrameEncoding>>;
export function decodeFrames(
  source: AsyncIterable<Buffer>,
  opts?: DecodeOptions & { readonly deltas?: false },
): AsyncGenerator<FramedChunk>;
export function decodeFrames(
  source: AsyncIterable<Buffer>,
  opts?: DecodeOptions,
): AsyncGenerator<FramedChunk<FrameEncoding>>;
export function decodeFrames(
  source: AsyncIterable<Buffer>,
  opts: DecodeOptions = {},
): AsyncGenerator<FramedChunk<FrameEncoding>> {
  return readFrames(source, opts);
}

async function* readFrames(
  source: AsyncIterable<Buffer>,
  opts: DecodeOptions,
): AsyncGenerator<FramedChunk<FrameEncoding>> {
  const q = new ByteQueue();
  const reader = batchReader(source);
  let count = 0;
  /** Pulls until `n` bytes are buffered; false when the source ended first. */
  const fill = async (n: number): Promise<boolean> => {
    while (q.length < n) {
      const got = await reader.read(n - q.length).catch((err: unknown) => {
        // A connection cut by the far side (it met a damaged chunk, or it stopped) is a
        // truncated stream, said so, not "other side closed".
        throw isCut(err) ? cut(count, err) : err;
      });
      if (got === undefined) return false;
      for (const b of got) q.push(b);
    }
    return true;
  };
  // Awaited only when short: most frames lie in bytes already read, and an await per
  // header and payload was three promise turns a chunk.
  const short = (n: number): boolean => q.length < n;

  try {
    if (short(5) && !(await fill(5))) throw truncated('before the stream header');
    const head = q.take(5);
    if (!head.subarray(0, 4).equals(FRAME_MAGIC)) throw invalid('not a chunk stream (bad magic)');
    const version = head[4];
    if (version !== FRAME_VERSION && !(opts.deltas && version === FRAME_VERSION_DELTAS)) {
      throw invalid(`unknown chunk stream version ${version}`);
    }

    for (;;) {
      if (short(1) && !(await fill(1))) throw truncated(`after ${count} chunks, without its end frame`);
      const type = q.peekByte();
      if (type === END_FRAME) {
        if (short(5) && !(await fill(5))) throw truncated('inside the end frame');
        const declared = q.take(5).readUInt32BE(1);
        if (declared !== count) {
          throw invalid(`end frame counts ${declared} chunks but ${count} arrived`, {
            expected: declared,
            found: count,
          });
        }
        if (q.length > 0 || (await moreBytes(reader))) throw invalid('bytes after the end frame');
        return;
      }
      if (type !== CHUNK_FRAME) throw invalid(`unknown frame type ${type}`);
      if (short(CHUNK_HEADER) && !(await fill(CHUNK_HEADER)))
        throw truncated(`inside the header of chunk ${count + 1}`);
      const h = q.take(CHUNK_HEADER);
      const frame = parseHeader(h, version);
      if (short(frame.payloadLength) && !(await fill(frame.payloadLength)))
        throw truncated(`inside the payload of chunk ${count + 1}`);
      const payload = opts.lend ? q.lend(frame.payloadLength) : q.take(frame.payloadLength);
      count++;
      yield { digest: frame.digest, encoded: wireChunk(frame, payload), rawLength: frame.rawLength };
    }
  } finally {
    reader.close();
  }
}

/** Whether the source holds any byte past this point (empty buffers are no bytes). */
async function moreBytes(reader: BatchReader): Promise<boolean> {
  for (let got = await reader.read(1); got; got = await reader.read(1)) {
    if (got.some((b) => b.length > 0)) return true;
  }
  return false;
}

function wireChunk(frame: ReturnType<typeof parseHeader>, payload: Buffer): FrameEncoding {
  if (frame.encoding !== 'delta' && frame.encoding !== 'patch') return { encoding: frame.encoding, payload };
  const patch = frame.encoding === 'patch';
  const n = payload[0] as number;
  // The list and a zstd frame or patch, which is never empty; a patch has one reference.
  if (n < 1 || n > (patch ? 1 : MAX_REFERENCES) || payload.length <= referenceBytes(n)) {
    throw invalid(
      `a ${frame.encoding} chunk frame of ${payload.length} payload bytes naming ${n} references`,
    );
  }
  const references = Array.from(
    { length: n },
    (_, i) => payload.toString('hex', 1 + 32 * i, 33 + 32 * i) as Digest,
  );
  // A chunk cannot be rebuilt from itself: the receiver would need the chunk it is sent.
  if (references.includes(frame.digest)) {
    throw invalid(`delta chunk ${frame.digest} names itself as its reference`);
  }
  const delta = payload.subarray(referenceBytes(n));
  return { encoding: 'delta', references, payload: delta, ...(patch ? { patch: true } : {}) };
}

function parseHeader(h: Buffer, version: number) {
  const digest = h.toString('hex', 1, 33) as Digest;
  const encoding = ENCODINGS[h[33] as number];
  const deltaLike = encoding === 'delta' || encoding === 'patch';
  if (encoding === undefined || (deltaLike && version === FRAME_VERSION)) {
    throw invalid(`unknown chunk encoding ${h[33]}`);
  }
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
  // A reference list of at least one digest and a zstd frame, which is never empty.
  if (deltaLike && payloadLength <= referenceBytes(1)) {
    throw invalid(
      `a delta chunk frame of ${payloadLength} payload bytes, too short for a reference and a delta`,
    );
  }
  return { digest, encoding, rawLength, payloadLength };
}

function invalid(message: string, details?: Record<string, unknown>): IngotError {
  return new IngotError('INVALID_ARGUMENT', `chunk stream: ${message}`, details ? { details } : {});
}

/** Node's and undici's codes for a connection the far side closed or reset mid-body. */
const CUT_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

function isCut(err: unknown): boolean {
  return !(err instanceof IngotError) && CUT_CODES.has((err as { code?: string }).code ?? '');
}

function cut(count: number, err: unknown): IngotError {
  const why = (err as { code?: string; message?: string }).message ?? String(err);
  return new IngotError('TRUNCATED', `chunk stream cut after ${count} chunks (${why})`, {
    hint: "the chunks received before the cut were kept; the sender's log says why (a damaged stored chunk is CORRUPT there, found by `ingot image verify`); retry to fetch the rest",
    cause: err,
  });
}

function truncated(where: string): IngotError {
  return new IngotError('TRUNCATED', `chunk stream ended ${where}`, {
    hint: 'the chunks received before the cut were kept; retry to fetch the rest',
  });
}

/**
 * A chunk stream as ~1 MiB writes for a socket: every yielded Buffer becomes its own write
 * (and, over TLS, its own record), so 42-byte headers between 64 KiB payloads cost more
 * than copying them together does. Frames are written straight into the blocks, each
 * payload copied before the next chunk is asked for, so lent payloads (ports.ts) are safe
 * to reuse behind it; a step of the stream per block, not two per chunk (a generator's
 * step is a promise turn). Writes come from `alloc` (a pool's blocks, given back by
 * whoever writes them).
 */
export async function* encodeBlocks(
  chunks: Frames<FrameEncoding>,
  opts: { readonly deltas?: boolean } = {},
  target = SOCKET_WRITE_BYTES,
  alloc: (n: number) => Buffer = Buffer.allocUnsafe,
): AsyncGenerator<Buffer> {
  const w = new FrameWriter(opts);
  let out = alloc(target);
  let size = 0;
  const full: Buffer[] = [];
  const put = (b: Buffer) => {
    for (let at = 0; at < b.length; ) {
      const n = b.copy(out, size, at);
      size += n;
      at += n;
      if (size === out.length) {
        full.push(out);
        out = alloc(target);
        size = 0;
      }
    }
  };
  put(w.streamHeader());
  for await (const c of chunks) {
    put(w.header(c));
    put(c.encoded.payload);
    while (full.length > 0) yield full.shift() as Buffer;
  }
  put(w.end());
  yield* full;
  if (size > 0) yield out.subarray(0, size);
}

/** The size of one socket write of a chunk stream. */
export const SOCKET_WRITE_BYTES = 2 ** 20;

/**
 * A chunk stream as a body for a socket: frames in ~1 MiB writes, read ahead by at most two
 * writes, so a slow link holds ~2 MiB per stream rather than Readable.from's default 16.
 */
export function frameBody(chunks: Frames<FrameEncoding>, opts: { readonly deltas?: boolean } = {}): Readable {
  return Readable.from(encodeBlocks(chunks, opts), { highWaterMark: 2 });
}

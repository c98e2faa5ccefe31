import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IngotError } from '../core/errors.js';
import { DATA_BLOCK_BYTES, dataBuffers } from '../store/buffer-pool.js';
import { cpuPool } from '../store/cpu-pool.js';
import {
  CHUNK_HEADER,
  decodeFrames,
  encodeFrames,
  FRAME_VERSION_DELTAS,
  type FramedChunk,
  type FrameEncoding,
  referenceBytes,
  STREAM_HEADER,
} from '../store/frame-codec.js';
import {
  locateParts,
  MIN_SPLIT_BYTES,
  PART_HEADER_LEN,
  type PartSet,
  PartWriter,
  partFileName,
  readLogical,
} from './bundle-parts.js';
import type { MovingChunk } from './ports.js';

/**
 * The offline bundle, version 1: a transfer carried on a USB stick. It holds one header
 * (JSON: signed manifests and their metadata) and a frame stream of the chunks the receiver
 * lacks, in one file or in numbered parts. All integers are big-endian.
 *
 * The logical stream, L bytes:
 *
 *   off      len  field
 *     0        4  magic "IGBN" (49 47 42 4E)
 *     4        1  version, u8 = 1
 *     5        4  header length h, u32, at most 256 MiB
 *     9        h  header: JSON, UTF-8
 *     9+h      f  chunk frames, exactly as encodeFrames writes them: "IGCK" 01 frame* end frame
 *                  (02 when some chunks are deltas, store-format §13.2)
 *     L-44     4  trailer magic "IGBE" (49 47 42 45)
 *     L-40     8  u64: L - 44, the number of bytes before the trailer
 *     L-32    32  SHA-256 of logical bytes 0 .. L-45 (everything before the trailer)
 *
 * The logical stream is cut, in order and without gaps, into part files. Each part file is
 * a 40-byte part header followed by its slice of the stream; part headers are neither in the
 * logical stream nor in its hash.
 *
 *   off len  field
 *     0   4  magic "IGBP" (49 47 42 50)
 *     4   1  version, u8 = 1
 *     5   3  reserved, 0
 *     8  16  bundle id: random, the same in every part of one bundle
 *    24   4  part index, u32, from 1
 *    28   4  part count, u32; 0 while the writer runs, patched in before the rename
 *    32   8  part size s, u64: the file size of every part but the last; 0 when not split
 *
 * Without splitBytes the bundle is one file, `<name>.ingot` (index 1, count 1, s = 0). With
 * splitBytes it is `<name>.ingot.001`, `.002`, ... (three digits, more past 999), even when
 * one part suffices; every part but the last is exactly s = splitBytes bytes (s - 40 logical
 * bytes) and the last holds the rest, between 1 and s - 40 logical bytes. Every file is
 * written as `<final name>.partial` and renamed once fsynced, the .001 part last.
 *
 * What catches what:
 * - a missing part, a part of another bundle, renamed parts, a part other than the last cut
 *   short, an unfinished write: openBundle, from part headers and file sizes alone, before
 *   any chunk is read;
 * - a cut last part, any changed byte: read(), from the trailer, once the last byte is read.
 *   read() reads the file once: it hashes every block (on the CPU pool) as it hands out the
 *   chunks, so the chunks are out before the verdict; the caller must commit nothing
 *   (list no image) until read() has resolved.
 * The trailer guards against accidents (cut copies, bit rot, mixups), not forgery: trust comes
 * from the signatures on the manifests and the digests of the chunks, which the caller checks.
 */

export const BUNDLE_MAGIC = Buffer.from('IGBN', 'ascii');
export const BUNDLE_VERSION = 1;
export const TRAILER_MAGIC = Buffer.from('IGBE', 'ascii');
export const MAX_HEADER_BYTES = 256 * 1024 * 1024;
/** The largest file FAT32 can hold, so the splitBytes for a FAT32 stick. */
export const FAT32_SPLIT_BYTES = 2 ** 32 - 1;
const PREFIX_LEN = 9;
const TRAILER_LEN = 44;
/** An empty frame stream: "IGCK", its version and the end frame. */
const MIN_FRAMES_LEN = 10;

export interface BundleWriteResult {
  readonly files: string[];
  /** Every byte of the logical stream, trailer included. */
  readonly logicalBytes: number;
  /** Hex SHA-256 of the logical stream before the trailer, as recorded in the trailer. */
  readonly sha256: string;
}

export interface OpenedBundle {
  /** Parsed JSON, untrusted (the caller checks its signature and validates its content). */
  readonly header: unknown;
  readonly files: string[];
  /** Its frames are a version 2 stream: some chunks may be deltas (store-format §7). */
  readonly deltas: boolean;
  /**
   * The one pass: hands the chunk frames to `consume`, in order, while every byte is hashed
   * for the trailer, then checks the trailer (length + SHA-256) and resolves with what
   * `consume` returned. A payload is lent (ports.ts): valid until the next chunk is asked for.
   * Throws TRUNCATED, CORRUPT or INVALID_ARGUMENT with a message naming the file; when the
   * frames or `consume` fail on bad data, the rest is still read and a failing trailer is the
   * answer (it says what happened to the file). Each call reads the file anew.
   */
  read<T>(
    consume: (chunks: AsyncIterable<MovingChunk>) => Promise<T>,
    opts?: { signal?: AbortSignal },
  ): Promise<T>;
}

/** Writes header + chunks; files are written as <name>.ingot(.NNN).partial then renamed once complete and fsynced, so a crash never leaves a file that looks finished. */
export async function writeBundle(opts: {
  dir: string;
  name: string;
  splitBytes?: number;
  header: unknown;
  chunks: AsyncIterable<FramedChunk<FrameEncoding>> | Iterable<FramedChunk<FrameEncoding>>;
  /** Deltas among the chunks: the frames are then a version 2 stream (store-format §7). */
  deltas?: boolean;
}): Promise<BundleWriteResult> {
  checkName(opts.name);
  checkSplit(opts.splitBytes);
  const header = headerBytes(opts.header);
  await mkdir(opts.dir, { recursive: true });
  const base = join(opts.dir, `${opts.name}.ingot`);
  await refuseExisting(base);
  const writer = new PartWriter(base, opts.splitBytes, randomBytes(16));
  try {
    const { length, sha } = await writeLogical(writer, header, opts.chunks, opts.deltas ?? false);
    const files = await writer.finish();
    return { files, logicalBytes: length + TRAILER_LEN, sha256: sha.toString('hex') };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

async function writeLogical(
  writer: PartWriter,
  header: Buffer,
  chunks: AsyncIterable<FramedChunk<FrameEncoding>> | Iterable<FramedChunk<FrameEncoding>>,
  deltas: boolean,
): Promise<{ length: number; sha: Buffer }> {
  const hash = createHash('sha256');
  let length = 0;
  const put = async (b: Buffer) => {
    hash.update(b);
    length += b.length;
    await writer.write(b);
  };
  const prefix = Buffer.alloc(PREFIX_LEN);
  BUNDLE_MAGIC.copy(prefix, 0);
  prefix[4] = BUNDLE_VERSION;
  prefix.writeUInt32BE(header.length, 5);
  await put(prefix);
  await put(header);
  for await (const b of encodeFrames(chunks, { deltas })) await put(b);
  const sha = hash.digest();
  const trailer = Buffer.alloc(TRAILER_LEN);
  TRAILER_MAGIC.copy(trailer, 0);
  trailer.writeBigUInt64BE(BigInt(length), 4);
  sha.copy(trailer, 12);
  await writer.write(trailer);
  return { length, sha };
}

function checkName(name: string): void {
  if (name.length === 0 || name.includes('\0')) {
    throw new IngotError('INVALID_ARGUMENT', `not a bundle name: ${JSON.stringify(name)}`);
  }
  if (name.includes('/') || name.startsWith('.')) {
    throw new IngotError('UNSAFE_PATH', `a bundle name may not contain "/" or start with ".": ${name}`);
  }
}

function checkSplit(splitBytes: number | undefined): void {
  if (splitBytes === undefined) return;
  if (!Number.isSafeInteger(splitBytes) || splitBytes < MIN_SPLIT_BYTES) {
    throw new IngotError('INVALID_ARGUMENT', `splitBytes must be a whole number of at least 1 MiB`, {
      details: { splitBytes, min: MIN_SPLIT_BYTES },
    });
  }
}

function headerBytes(header: unknown): Buffer {
  let json: string | undefined;
  try {
    json = JSON.stringify(header);
  } catch (err) {
    throw new IngotError('INVALID_ARGUMENT', 'the bundle header cannot be written as JSON', { cause: err });
  }
  if (json === undefined) throw new IngotError('INVALID_ARGUMENT', 'the bundle header has no JSON form');
  const b = Buffer.from(json, 'utf8');
  if (b.length > MAX_HEADER_BYTES) {
    throw new IngotError('INVALID_ARGUMENT', `a bundle header of ${b.length} bytes (at most 256 MiB)`);
  }
  return b;
}

/** A second bundle under the same name would mix its parts with the first one's. */
async function refuseExisting(base: string): Promise<void> {
  for (const file of [base, partFileName(base, 1, true)]) {
    const exists = await access(file).then(
      () => true,
      () => false,
    );
    if (exists) throw new IngotError('ALREADY_EXISTS', `${file} already exists`);
  }
}

/** Opens `<path>` (a .ingot file, or the .001 part of a split bundle; the other parts are found beside it). */
export async function openBundle(path: string): Promise<OpenedBundle> {
  const parts = await locateParts(path);
  const total = parts.sizes.reduce((n, size) => n + size - PART_HEADER_LEN, 0);
  const headerLen = parsePrefix(await readRange(parts, 0, Math.min(PREFIX_LEN, total)), parts);
  const framesStart = PREFIX_LEN + headerLen;
  if (framesStart + MIN_FRAMES_LEN + TRAILER_LEN > total) {
    throw new IngotError('TRUNCATED', `${describe(parts)} ends inside its header`, {
      hint: 'copy the bundle again',
    });
  }
  const header = parseHeader(await readRange(parts, PREFIX_LEN, framesStart), parts);
  const version = (await readRange(parts, framesStart + 4, framesStart + 5))[0];
  return new BundleReader(parts, header, framesStart, total, version === FRAME_VERSION_DELTAS);
}

/** Hash updates a read keeps pending: the file is read ahead of the hashing by this much. */
const HASHES_IN_FLIGHT = 2;

/** Errors that say the bytes are bad, for which the trailer's verdict is the better answer. */
const DATA_ERRORS: ReadonlySet<string> = new Set([
  'TRUNCATED',
  'CORRUPT',
  'INVALID_ARGUMENT',
  'DIGEST_MISMATCH',
  'PAYLOAD_TOO_LARGE',
]);

function isDataError(err: unknown): boolean {
  return err instanceof IngotError && DATA_ERRORS.has(err.code);
}

class BundleReader implements OpenedBundle {
  readonly files: string[];

  constructor(
    private readonly parts: PartSet,
    readonly header: unknown,
    private readonly framesStart: number,
    private readonly total: number,
    readonly deltas: boolean,
  ) {
    this.files = [...parts.files];
  }

  async read<T>(
    consume: (chunks: AsyncIterable<MovingChunk>) => Promise<T>,
    opts: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const body = this.total - TRAILER_LEN;
    const hash = cpuPool().sha256Stream();
    const hashing: Promise<void>[] = [];
    const tail: Buffer[] = [];
    /** Blocks the frame decoder may still hold, each with the logical offset it ends at. */
    const lent: { block: Buffer; end: number }[] = [];
    /** Logical offset up to which the decoder and `consume` are done with the bytes. */
    let consumed = this.framesStart + STREAM_HEADER;
    const release = () => {
      while (lent.length > 0 && (lent[0] as { end: number }).end <= consumed) {
        dataBuffers.give((lent.shift() as { block: Buffer }).block);
      }
    };
    const { framesStart, total, parts } = this;
    const signal = opts.signal;
    async function* blocks(): AsyncGenerator<Buffer> {
      let off = 0;
      for await (const b of readLogical(parts, 0, total, () => dataBuffers.take(DATA_BLOCK_BYTES))) {
        signal?.throwIfAborted();
        const start = off;
        off += b.length;
        const cut = (at: number) => Math.min(b.length, Math.max(0, at - start));
        if (cut(body) > 0) {
          // update copies the bytes at once; waiting on the oldest bounds the read-ahead.
          hashing.push(hash.update(b.subarray(0, cut(body))));
          if (hashing.length > HASHES_IN_FLIGHT) await hashing.shift();
        }
        if (off > body) tail.push(Buffer.from(b.subarray(cut(body))));
        const frames = b.subarray(cut(framesStart), cut(body));
        if (frames.length === 0) {
          dataBuffers.give(b);
          continue;
        }
        lent.push({ block: b, end: start + cut(body) });
        yield frames;
      }
    }
    const source = blocks();
    async function* chunks(): AsyncGenerator<MovingChunk> {
      for await (const c of decodeFrames(source, { deltas: true })) {
        yield c;
        const refs = c.encoded.encoding === 'delta' ? referenceBytes(c.encoded.references.length) : 0;
        consumed += CHUNK_HEADER + refs + c.encoded.payload.length;
        release();
      }
    }
    let result: T | undefined;
    let failure: { err: unknown } | undefined;
    let digested = false;
    try {
      result = await consume(chunks());
    } catch (err) {
      failure = { err };
    }
    try {
      if (failure && (!isDataError(failure.err) || signal?.aborted)) throw failure.err;
      // Whatever is left (nothing, unless the frames or `consume` failed) is read for the hash.
      consumed = Number.POSITIVE_INFINITY;
      release();
      for (let r = await source.next(); !r.done; r = await source.next()) release();
      await Promise.all(hashing);
      digested = true;
      checkTrailer(Buffer.concat(tail), body, await hash.digest(), parts);
    } catch (err) {
      failure = { err };
    } finally {
      await source.return(undefined).catch(() => {});
      await Promise.allSettled(hashing);
      if (!digested) await hash.digest().catch(() => {});
      consumed = Number.POSITIVE_INFINITY;
      release();
    }
    if (failure) throw failure.err;
    return result as T;
  }
}

async function readRange(parts: PartSet, start: number, end: number): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of readLogical(parts, start, end)) out.push(b);
  return Buffer.concat(out);
}

function describe(parts: PartSet): string {
  const first = parts.files[0] as string;
  return parts.files.length === 1 ? first : `${first} (${parts.files.length} parts)`;
}

function parsePrefix(b: Buffer, parts: PartSet): number {
  if (b.length < 4 || !b.subarray(0, 4).equals(BUNDLE_MAGIC)) {
    throw new IngotError('INVALID_ARGUMENT', `${describe(parts)} is not an Ingot bundle (bad magic)`);
  }
  if (b.length < PREFIX_LEN) throw new IngotError('TRUNCATED', `${describe(parts)} ends inside its prefix`);
  if (b[4] !== BUNDLE_VERSION) {
    throw new IngotError('INVALID_ARGUMENT', `${describe(parts)}: bundle version ${b[4]} is not supported`);
  }
  const len = b.readUInt32BE(5);
  if (len > MAX_HEADER_BYTES) {
    throw new IngotError(
      'INVALID_ARGUMENT',
      `${describe(parts)}: a header of ${len} bytes (at most 256 MiB)`,
    );
  }
  return len;
}

function parseHeader(b: Buffer, parts: PartSet): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b));
  } catch (err) {
    throw new IngotError('CORRUPT', `${describe(parts)}: its header is not UTF-8 JSON`, {
      hint: 'the bundle was damaged; copy it again',
      cause: err,
    });
  }
}

function checkTrailer(t: Buffer, body: number, sha: Buffer, parts: PartSet): void {
  if (t.length !== TRAILER_LEN || !t.subarray(0, 4).equals(TRAILER_MAGIC)) {
    throw new IngotError(
      'TRUNCATED',
      `${parts.files.at(-1)} ends without the bundle trailer: it was cut short`,
      {
        hint: 'copy the bundle again',
      },
    );
  }
  const declared = t.readBigUInt64BE(4);
  if (declared !== BigInt(body)) {
    const code = declared > BigInt(body) ? 'TRUNCATED' : 'CORRUPT';
    throw new IngotError(
      code,
      `${describe(parts)}: its trailer counts ${declared} bytes, ${body} precede it`,
      {
        hint: 'copy the bundle again',
      },
    );
  }
  if (!t.subarray(12).equals(sha)) {
    throw new IngotError(
      'CORRUPT',
      `${describe(parts)}: its content does not match the SHA-256 in its trailer`,
      {
        hint: 'a byte changed in one of its files; copy the bundle again',
        details: { files: parts.files, recorded: t.subarray(12).toString('hex'), found: sha.toString('hex') },
      },
    );
  }
}

import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IngotError } from '../core/errors.js';
import { encodeFrames, type FramedChunk, type FrameEncoding } from '../store/frame-codec.js';
import { MIN_SPLIT_BYTES, PartWriter, partFileName } from './bundle-parts.js';

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
export const PREFIX_LEN = 9;
export const TRAILER_LEN = 44;
/** An empty frame stream: "IGCK", its version and the end frame. */
export const MIN_FRAMES_LEN = 10;

export interface BundleWriteResult {
  readonly files: string[];
  /** Every byte of the logical stream, trailer included. */
  readonly logicalBytes: number;
  /** Hex SHA-256 of the logical stream before the trailer, as recorded in the trailer. */
  readonly sha256: string;
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

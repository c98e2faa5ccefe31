import { type FileHandle, open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { ChunkEncoding } from './chunk-store.js';

/**
 * The pack file format, version 1 (store/packs-v1/<id>.pack). A pack is an append-only
 * sequence of self-describing chunk records, so the index can always be rebuilt by
 * scanning the packs. All integers are big-endian.
 *
 * Pack header (16 bytes, at offset 0):
 *
 *   off len  field
 *     0   4  magic "IGPK" (49 47 50 4B)
 *     4   2  format version, u16 = 1
 *     6   2  reserved, 0
 *     8   8  pack id, u64; equals the number in the file name
 *
 * Records follow back to back from offset 16, with no padding. Record (52-byte header,
 * then the payload):
 *
 *   off len  field
 *     0   4  marker "IGCR" (49 47 43 52)
 *     4  32  digest: SHA-256 of the raw (decoded) chunk bytes, binary
 *    36   1  encoding: 0 = raw (payload is the chunk), 1 = zstd (payload is one zstd frame)
 *    37   3  reserved, 0
 *    40   4  raw length, u32, at most 16 MiB (MAX_RAW_LENGTH)
 *    44   4  payload length n, u32, at most MAX_PAYLOAD_LENGTH
 *    48   4  CRC-32 (ISO-HDLC, as zlib's crc32) of header bytes 0..47
 *    52   n  payload
 *
 * A record is valid when its marker, CRC, encoding, reserved bytes and lengths check, its
 * payload is wholly inside the file, and decoding the payload yields `raw length` bytes
 * whose SHA-256 is the digest. The next record starts at offset + 52 + n.
 *
 * Rules for writers and readers:
 * - Writers MUST append only at the pack's committed end, MUST make the appended bytes
 *   durable (fdatasync) before indexing them, and MUST NOT rewrite bytes that an index
 *   row points at. A chunk is stored once, and only once, its index row exists.
 * - A sealed pack MUST NOT be appended to again; it is only read, or compacted (its live
 *   records copied into the open pack, then the file unlinked).
 * - Readers MUST re-hash what they read and treat a mismatch as corruption.
 * - Bytes past the committed end of an unsealed pack are what a crash left: a reader
 *   opening the store SHOULD index the valid records there and MUST truncate the pack at
 *   the first invalid one.
 */

export const PACK_MAGIC = Buffer.from('IGPK', 'latin1');
export const PACK_VERSION = 1;
export const PACK_HEADER_SIZE = 16;
export const RECORD_MARKER = Buffer.from('IGCR', 'latin1');
export const RECORD_HEADER_SIZE = 52;
/** Largest raw chunk the store accepts (the chunker's maximum is far below). */
export const MAX_RAW_LENGTH = 16 * 2 ** 20;
/** Largest payload: room for zstd's worst case expansion of a MAX_RAW_LENGTH chunk. */
export const MAX_PAYLOAD_LENGTH = MAX_RAW_LENGTH + 2 ** 20;

export type EncodingCode = 0 | 1;

export function encodingCode(encoding: ChunkEncoding): EncodingCode {
  return encoding === 'raw' ? 0 : 1;
}

export function encodingName(code: number): ChunkEncoding | undefined {
  return code === 0 ? 'raw' : code === 1 ? 'zstd' : undefined;
}

export interface RecordHeader {
  /** 32 bytes. */
  readonly digest: Buffer;
  readonly encoding: EncodingCode;
  readonly rawLength: number;
  readonly payloadLength: number;
}

export function encodePackHeader(id: number): Buffer {
  const b = Buffer.alloc(PACK_HEADER_SIZE);
  PACK_MAGIC.copy(b, 0);
  b.writeUInt16BE(PACK_VERSION, 4);
  b.writeBigUInt64BE(BigInt(id), 8);
  return b;
}

/** The pack id in a valid header, or a reason why it is not one. */
export function parsePackHeader(b: Buffer): { id: number } | { invalid: string } {
  if (b.length < PACK_HEADER_SIZE) return { invalid: 'short pack header' };
  if (!b.subarray(0, 4).equals(PACK_MAGIC)) return { invalid: 'bad pack magic' };
  const version = b.readUInt16BE(4);
  if (version !== PACK_VERSION) return { invalid: `unsupported pack version ${version}` };
  return { id: Number(b.readBigUInt64BE(8)) };
}

export function encodeRecordHeader(h: RecordHeader): Buffer {
  const b = Buffer.alloc(RECORD_HEADER_SIZE);
  RECORD_MARKER.copy(b, 0);
  h.digest.copy(b, 4);
  b.writeUInt8(h.encoding, 36);
  b.writeUInt32BE(h.rawLength, 40);
  b.writeUInt32BE(h.payloadLength, 44);
  b.writeUInt32BE(crc32(b.subarray(0, 48)), 48);
  return b;
}

/** The header at the start of `b`, or a reason why it is not a valid one. */
export function parseRecordHeader(b: Buffer): RecordHeader | { invalid: string } {
  if (b.length < RECORD_HEADER_SIZE) return { invalid: 'short record header' };
  if (!b.subarray(0, 4).equals(RECORD_MARKER)) return { invalid: 'bad record marker' };
  if (b.readUInt32BE(48) !== crc32(b.subarray(0, 48))) return { invalid: 'bad record header CRC' };
  const encoding = b.readUInt8(36);
  if (encoding !== 0 && encoding !== 1) return { invalid: `unknown encoding ${encoding}` };
  if (b[37] !== 0 || b[38] !== 0 || b[39] !== 0) return { invalid: 'reserved bytes set' };
  const rawLength = b.readUInt32BE(40);
  const payloadLength = b.readUInt32BE(44);
  if (rawLength > MAX_RAW_LENGTH) return { invalid: `raw length ${rawLength} too large` };
  if (payloadLength > MAX_PAYLOAD_LENGTH) return { invalid: `payload length ${payloadLength} too large` };
  if (encoding === 0 && payloadLength !== rawLength) return { invalid: 'raw record with two lengths' };
  return { digest: Buffer.from(b.subarray(4, 36)), encoding, rawLength, payloadLength };
}

export function isInvalid<T extends object>(v: T | { invalid: string }): v is { invalid: string } {
  return 'invalid' in v;
}

/** Total bytes a record with this payload length takes in the pack. */
export function recordSize(payloadLength: number): number {
  return RECORD_HEADER_SIZE + payloadLength;
}

export interface PackRecord {
  readonly offset: number;
  readonly header: RecordHeader;
  readonly payload: Buffer;
}

/**
 * Reads exactly `length` bytes at `position`, or fewer only at the end of the file, into
 * `into` when given (at least `length` bytes long), else into a new buffer.
 */
export async function preadFully(
  fh: FileHandle,
  length: number,
  position: number,
  into?: Buffer,
): Promise<Buffer> {
  const buf = into ?? Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/**
 * The record at `offset`, header and payload read in one pread, or a reason why there is
 * no valid (structurally) record there. The payload's digest is not checked here.
 */
export async function readRecord(
  fh: FileHandle,
  offset: number,
  payloadLength: number,
): Promise<PackRecord | { invalid: string }> {
  return parseRecord(await preadFully(fh, recordSize(payloadLength), offset), offset, payloadLength);
}

/** The record whose bytes (header and payload) `buf` holds, checked as readRecord does. */
export function parseRecord(
  buf: Buffer,
  offset: number,
  payloadLength: number,
): PackRecord | { invalid: string } {
  const header = parseRecordHeader(buf);
  if (isInvalid(header)) return header;
  if (header.payloadLength !== payloadLength) return { invalid: 'record length differs from the index' };
  if (buf.length < recordSize(payloadLength)) return { invalid: 'record cut short by the end of the pack' };
  return { offset, header, payload: buf.subarray(RECORD_HEADER_SIZE) };
}

/**
 * The structurally valid records from `start` up to `end`, in order. Stops at the first
 * invalid or incomplete record; `stoppedAt` is then called with its offset and the reason.
 */
export async function* scanRecords(
  fh: FileHandle,
  start: number,
  end: number,
  stoppedAt?: (offset: number, reason: string) => void,
): AsyncGenerator<PackRecord> {
  let offset = start;
  while (offset < end) {
    if (end - offset < RECORD_HEADER_SIZE) {
      stoppedAt?.(offset, 'torn record header');
      return;
    }
    const header = parseRecordHeader(await preadFully(fh, RECORD_HEADER_SIZE, offset));
    if (isInvalid(header)) {
      stoppedAt?.(offset, header.invalid);
      return;
    }
    const size = recordSize(header.payloadLength);
    if (offset + size > end) {
      stoppedAt?.(offset, 'torn record payload');
      return;
    }
    const payload = await preadFully(fh, header.payloadLength, offset + RECORD_HEADER_SIZE);
    if (payload.length !== header.payloadLength) {
      stoppedAt?.(offset, 'torn record payload');
      return;
    }
    yield { offset, header, payload };
    offset += size;
  }
}

/** Makes a directory's entries (a created or unlinked pack) durable. */
export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

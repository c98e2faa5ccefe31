// A chunk as a patch against a reference chunk the sender does not have: the holder of the
// reference sends its block signatures (rsync's weak rolling checksum and a strong hash per
// block), the sender finds those blocks in its chunk at any offset and sends the rest as
// literals (store-format.md §7, "Patches"). What a remote CLI uses to send a new version of
// an image its server holds (`image add --from`); peers, which hold both, use zstd deltas.
import { createHash } from 'node:crypto';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { IngotError } from '../core/errors.js';

/** Block size of a signature: a 64 KiB chunk has 32 blocks, signed in 384 bytes (0.6%). */
export const SIGNATURE_BLOCK = 2048;
/** Per block: u32be weak checksum, then the first 8 bytes of its SHA-256. */
export const SIGNATURE_ENTRY = 12;
const STRONG = 8;
const COPY = 0;
const LITERAL = 1;
const ZSTD_LITERAL = 2;
const OP_HEADER = 9;
/** Literals this long or longer are tried with zstd (level 3), kept if it saves 1/16. */
const COMPRESS_FROM = 512;

/** The signatures of each whole block of `reference`, in order (a short tail has none). */
export function blockSignatures(reference: Uint8Array): Buffer {
  const blocks = Math.floor(reference.length / SIGNATURE_BLOCK);
  const out = Buffer.allocUnsafe(blocks * SIGNATURE_ENTRY);
  for (let k = 0; k < blocks; k++) {
    const block = reference.subarray(k * SIGNATURE_BLOCK, (k + 1) * SIGNATURE_BLOCK);
    const at = k * SIGNATURE_ENTRY;
    out.writeUInt32BE(weakSum(block, 0, block.length).sum, at);
    strongOf(block).copy(out, at + 4);
  }
  return out;
}

/**
 * `target` as copies of the signed reference's blocks and literals between them:
 *
 *   patch = op*
 *   op    = u8(0) u32be(offset) u32be(length)   `length` bytes of the reference at `offset`
 *         | u8(1) u32be(length) bytes[length]   literal bytes
 *         | u8(2) u32be(length) u32be(n) zstd[n] literal bytes, one zstd frame of them
 *
 * Adjacent block copies are merged. The caller decides whether it saves enough.
 */
export function encodePatch(target: Uint8Array, signatures: Uint8Array): Buffer {
  const index = indexOf(signatures);
  const out = new PatchWriter(target);
  const L = SIGNATURE_BLOCK;
  let i = 0;
  let w = index.size > 0 && target.length >= L ? weakSum(target, 0, L) : undefined;
  while (w && i + L <= target.length) {
    const block = matchAt(target, i, w.sum, index, signatures);
    if (block !== undefined) {
      out.copy(i, block * L, L);
      i += L;
      w = i + L <= target.length ? weakSum(target, i, i + L) : undefined;
      continue;
    }
    if (i + L >= target.length) break;
    w = roll(w, target[i] as number, target[i + L] as number);
    i++;
  }
  return out.finish(target.length);
}

/**
 * `target` as a patch against `reference` where the two line up: the bytes equal at the same
 * offsets are copies, the rest literals, with each literal trimmed to the bytes that differ.
 * What a sender holding both makes for a chunk rewritten in place, at memcmp speed: a few
 * writes into a chunk leave its cut points, and so every other byte, where they were. A
 * chunk whose bytes moved gives mostly literals, and the caller tries a zstd delta instead.
 */
export function alignedPatch(target: Uint8Array, reference: Uint8Array): Buffer {
  const t = asBuffer(target);
  const r = asBuffer(reference);
  const n = t.length;
  const shared = Math.min(n, r.length);
  const out = new PatchWriter(t);
  let copyFrom = -1;
  for (let at = 0; at < n; at += SIGNATURE_BLOCK) {
    const end = Math.min(at + SIGNATURE_BLOCK, n);
    const equal = end <= shared && t.compare(r, at, end, at, end) === 0;
    if (equal && copyFrom < 0) copyFrom = trimBack(t, r, at, out.literalEnd);
    if (!equal && copyFrom >= 0) {
      const stop = trimForward(t, r, at, Math.min(end, shared));
      out.copy(copyFrom, copyFrom, stop - copyFrom);
      copyFrom = -1;
    }
  }
  if (copyFrom >= 0) out.copy(copyFrom, copyFrom, n - copyFrom);
  return out.finish(n);
}

/** Where the equal run ending at `at` starts, going back byte by byte to `floor`. */
function trimBack(t: Buffer, r: Buffer, at: number, floor: number): number {
  let i = at;
  while (i > floor && t[i - 1] === r[i - 1]) i--;
  return i;
}

/** Where the equal run from `at` ends, going on byte by byte to `ceiling`. */
function trimForward(t: Buffer, r: Buffer, at: number, ceiling: number): number {
  let i = at;
  while (i < ceiling && t[i] === r[i]) i++;
  return i;
}

/** The chunk `patch` makes from `reference`; at most `maxRaw` bytes, else CORRUPT. */
export function applyPatch(patch: Uint8Array, reference: Uint8Array, maxRaw: number): Buffer {
  const p = Buffer.from(patch.buffer, patch.byteOffset, patch.byteLength);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let at = 0; at < p.length; ) {
    const op = p[at];
    if (at + OP_HEADER - (op === LITERAL ? 4 : 0) > p.length) throw bad('an operation is cut short');
    if (op === COPY) {
      const offset = p.readUInt32BE(at + 1);
      const length = p.readUInt32BE(at + 5);
      if (length === 0 || offset + length > reference.length) throw bad('a copy reaches past its reference');
      parts.push(reference.subarray(offset, offset + length));
      total += length;
      at += OP_HEADER;
    } else if (op === LITERAL) {
      const length = p.readUInt32BE(at + 1);
      if (length === 0 || at + 5 + length > p.length) throw bad('a literal runs past the patch');
      parts.push(p.subarray(at + 5, at + 5 + length));
      total += length;
      at += 5 + length;
    } else if (op === ZSTD_LITERAL) {
      const length = p.readUInt32BE(at + 1);
      const n = p.readUInt32BE(at + 5);
      if (length === 0 || total + length > maxRaw) throw bad(`it makes more than ${maxRaw} bytes`);
      if (n === 0 || at + OP_HEADER + n > p.length) throw bad('a literal runs past the patch');
      parts.push(unzstd(p.subarray(at + OP_HEADER, at + OP_HEADER + n), length));
      total += length;
      at += OP_HEADER + n;
    } else {
      throw bad(`unknown operation ${op}`);
    }
    if (total > maxRaw) throw bad(`it makes more than ${maxRaw} bytes`);
  }
  if (total === 0) throw bad('it makes no bytes');
  return Buffer.concat(parts, total);
}

/** Exactly `length` bytes out of one zstd frame, or CORRUPT; never more (a bomb stops there). */
function unzstd(frame: Buffer, length: number): Buffer {
  let out: Buffer;
  try {
    out = zstdDecompressSync(frame, { maxOutputLength: length });
  } catch (cause) {
    throw new IngotError('CORRUPT', 'a patch does not apply: a literal does not decompress', { cause });
  }
  if (out.length !== length) throw bad(`a literal decompresses to ${out.length} bytes, not ${length}`);
  return out;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

interface Weak {
  a: number;
  b: number;
  sum: number;
}

/** rsync's checksum of `bytes[from, to)`: a = Σx, b = Σ(L - i)x, both mod 2^16. */
function weakSum(bytes: Uint8Array, from: number, to: number): Weak {
  let a = 0;
  let b = 0;
  const L = to - from;
  for (let i = from; i < to; i++) {
    const x = bytes[i] as number;
    a += x;
    b += (L - (i - from)) * x;
  }
  a &= 0xffff;
  b &= 0xffff;
  return { a, b, sum: ((b << 16) | a) >>> 0 };
}

/** The window one byte on: `out` leaves it, `into` enters. */
function roll(w: Weak, out: number, into: number): Weak {
  const a = (w.a - out + into) & 0xffff;
  const b = (w.b - SIGNATURE_BLOCK * out + a) & 0xffff;
  return { a, b, sum: ((b << 16) | a) >>> 0 };
}

function strongOf(block: Uint8Array): Buffer {
  return createHash('sha256').update(block).digest().subarray(0, STRONG);
}

/** Weak checksum -> the blocks that have it. */
function indexOf(signatures: Uint8Array): Map<number, number[]> {
  if (signatures.length % SIGNATURE_ENTRY !== 0) throw bad('its signatures are not whole entries');
  const s = Buffer.from(signatures.buffer, signatures.byteOffset, signatures.byteLength);
  const index = new Map<number, number[]>();
  for (let k = 0; k * SIGNATURE_ENTRY < s.length; k++) {
    const weak = s.readUInt32BE(k * SIGNATURE_ENTRY);
    const list = index.get(weak);
    if (list) list.push(k);
    else index.set(weak, [k]);
  }
  return index;
}

/** The block whose weak and strong sums the window at `i` has, if any. */
function matchAt(
  target: Uint8Array,
  i: number,
  weak: number,
  index: Map<number, number[]>,
  signatures: Uint8Array,
): number | undefined {
  const blocks = index.get(weak);
  if (!blocks) return undefined;
  const strong = strongOf(target.subarray(i, i + SIGNATURE_BLOCK));
  for (const k of blocks) {
    const at = k * SIGNATURE_ENTRY + 4;
    if (strong.equals(signatures.subarray(at, at + STRONG))) return k;
  }
  return undefined;
}

/** Ops in order: literals from the target between copies, adjacent copies merged. */
class PatchWriter {
  private readonly parts: Buffer[] = [];
  private literalFrom = 0;
  private last: Buffer | undefined;

  constructor(private readonly target: Uint8Array) {}

  /** Where the literal in progress starts: the end of the last copy. */
  get literalEnd(): number {
    return this.literalFrom;
  }

  copy(at: number, offset: number, length: number): void {
    this.literal(at);
    const last = this.last;
    if (last && last.readUInt32BE(1) + last.readUInt32BE(5) === offset) {
      last.writeUInt32BE(last.readUInt32BE(5) + length, 5);
    } else {
      const op = Buffer.allocUnsafe(OP_HEADER);
      op[0] = COPY;
      op.writeUInt32BE(offset, 1);
      op.writeUInt32BE(length, 5);
      this.parts.push(op);
      this.last = op;
    }
    this.literalFrom = at + length;
  }

  finish(end: number): Buffer {
    this.literal(end);
    return Buffer.concat(this.parts);
  }

  private literal(to: number): void {
    if (to <= this.literalFrom) return;
    const bytes = this.target.subarray(this.literalFrom, to);
    const z = bytes.length >= COMPRESS_FROM ? zstdCompressSync(bytes, ZSTD_OPTIONS) : undefined;
    if (z && z.length <= bytes.length - (bytes.length >>> 4)) {
      const op = Buffer.allocUnsafe(OP_HEADER);
      op[0] = ZSTD_LITERAL;
      op.writeUInt32BE(bytes.length, 1);
      op.writeUInt32BE(z.length, 5);
      this.parts.push(op, z);
    } else {
      const op = Buffer.allocUnsafe(5);
      op[0] = LITERAL;
      op.writeUInt32BE(bytes.length, 1);
      this.parts.push(op, Buffer.from(bytes));
    }
    this.last = undefined;
  }
}

const ZSTD_OPTIONS = {
  params: { [constants.ZSTD_c_compressionLevel]: 3, [constants.ZSTD_c_checksumFlag]: 0 },
};

function bad(why: string): IngotError {
  return new IngotError('CORRUPT', `a patch does not apply: ${why}`);
}

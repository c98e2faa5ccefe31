import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { IngotError } from '../core/errors.js';

/**
 * The part files of a bundle: how the logical stream is cut into files and read back.
 * The byte layout is documented in bundle-format.ts.
 */

export const PART_MAGIC = Buffer.from('IGBP', 'ascii');
export const PART_VERSION = 1;
export const PART_HEADER_LEN = 40;
export const MIN_SPLIT_BYTES = 1024 * 1024;
const COUNT_OFFSET = 28;
/** Bounds both the write staging buffer and each read, whatever the bundle's size. */
const IO_BYTES = 1024 * 1024;

export interface PartHeader {
  readonly id: Buffer;
  readonly index: number;
  readonly count: number;
  /** The size of every part file but the last; 0 for an unsplit bundle. */
  readonly splitBytes: number;
}

/** What openBundle checked: the part files in order, with their sizes at that time. */
export interface PartSet {
  readonly files: readonly string[];
  readonly sizes: readonly number[];
  readonly ref: PartHeader;
}

export function partFileName(base: string, index: number, split: boolean): string {
  return split ? `${base}.${String(index).padStart(3, '0')}` : base;
}

function encodePartHeader(h: PartHeader): Buffer {
  const b = Buffer.alloc(PART_HEADER_LEN);
  PART_MAGIC.copy(b, 0);
  b[4] = PART_VERSION;
  h.id.copy(b, 8);
  b.writeUInt32BE(h.index, 24);
  b.writeUInt32BE(h.count, COUNT_OFFSET);
  b.writeBigUInt64BE(BigInt(h.splitBytes), 32);
  return b;
}

/** Cuts the logical stream into `<base>(.NNN).partial` files; finish() makes them final. */
export class PartWriter {
  private readonly stage = Buffer.allocUnsafe(IO_BYTES);
  private staged = 0;
  private fh: FileHandle | undefined;
  private pos = 0;
  private readonly finals: string[] = [];

  constructor(
    private readonly base: string,
    private readonly splitBytes: number | undefined,
    private readonly id: Buffer,
  ) {}

  async write(data: Buffer): Promise<void> {
    // Copied into the stage at once: the caller may reuse its buffers after we return.
    for (let off = 0; off < data.length; ) {
      if (this.fh === undefined || this.room() === 0) await this.nextPart();
      const n = Math.min(data.length - off, this.room(), IO_BYTES - this.staged);
      data.copy(this.stage, this.staged, off, off + n);
      this.staged += n;
      off += n;
      if (this.staged === IO_BYTES) await this.flush();
    }
  }

  /** Patches the part count into every part, fsyncs and renames; returns the final names. */
  async finish(): Promise<string[]> {
    await this.closePart();
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.finals.length);
    // The first part goes last: the file a reader opens appears only once the others are in place.
    for (const final of [...this.finals].reverse()) {
      const fh = await open(`${final}.partial`, 'r+');
      try {
        await writeAt(fh, count, COUNT_OFFSET);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(`${final}.partial`, final);
    }
    await syncDir(dirname(this.base));
    return [...this.finals];
  }

  async abort(): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
    await Promise.all(this.finals.map((f) => unlink(`${f}.partial`).catch(() => {})));
  }

  private room(): number {
    return (this.splitBytes ?? Number.POSITIVE_INFINITY) - this.pos - this.staged;
  }

  private async nextPart(): Promise<void> {
    await this.closePart();
    const index = this.finals.length + 1;
    const final = partFileName(this.base, index, this.splitBytes !== undefined);
    this.finals.push(final);
    this.fh = await open(`${final}.partial`, 'w', 0o644);
    // Count 0 until finish(): a part copied away before the end reads as unfinished.
    const header = encodePartHeader({ id: this.id, index, count: 0, splitBytes: this.splitBytes ?? 0 });
    await writeAt(this.fh, header, 0);
    this.pos = PART_HEADER_LEN;
  }

  private async flush(): Promise<void> {
    if (this.staged === 0 || this.fh === undefined) return;
    await writeAt(this.fh, this.stage.subarray(0, this.staged), this.pos);
    this.pos += this.staged;
    this.staged = 0;
  }

  private async closePart(): Promise<void> {
    await this.flush();
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

async function writeAt(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, pos + off);
    off += bytesWritten;
  }
}

/** Makes the renames durable; some file systems (FAT on a stick among them) refuse a directory fsync. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // The files themselves are fsynced; at worst a crash loses a rename, never exposes a partial file.
  } finally {
    await fh?.close();
  }
}

const BUNDLE_FILE = /^(.+\.ingot)(?:\.(\d{3,}))?$/;

/** Finds and checks every part of the bundle `path` belongs to; reads only part headers. */
export async function locateParts(path: string): Promise<PartSet> {
  const m = BUNDLE_FILE.exec(basename(path));
  if (!m) throw notBundleName(path);
  const base = join(dirname(path), m[1] as string);
  const split = m[2] !== undefined;
  const first = partFileName(base, 1, split);
  const head = await openPart(first, () => new IngotError('PATH_NOT_FOUND', `${first}: no such file`));
  await head.fh.close();
  const ref = head.header;
  checkLayout(first, ref, split);
  const files: string[] = [];
  const sizes: number[] = [];
  // One part at a time, so a corrupt count fails at the first missing file, not in an allocation.
  for (let index = 1; index <= ref.count; index++) {
    const file = partFileName(base, index, split);
    const p = await openChecked(file, index, ref);
    await p.fh.close();
    files.push(file);
    sizes.push(p.size);
  }
  return { files, sizes, ref };
}

function notBundleName(path: string): IngotError {
  if (path.endsWith('.partial')) {
    return new IngotError('INVALID_ARGUMENT', `${path} is an unfinished bundle file`, {
      hint: 'its writer stopped before the end; write the bundle again',
    });
  }
  return new IngotError('INVALID_ARGUMENT', `${path} is not named like a bundle`, {
    hint: 'open <name>.ingot, or the <name>.ingot.001 part of a split bundle',
  });
}

function checkLayout(file: string, ref: PartHeader, split: boolean): void {
  if (ref.count === 0) throw unfinished(file);
  if (ref.index !== 1) throw misplaced(file, ref.index, 1);
  if (split && ref.splitBytes < MIN_SPLIT_BYTES) {
    throw new IngotError('CORRUPT', `${file}: a split part with a part size of ${ref.splitBytes} bytes`);
  }
  if (!split && (ref.count !== 1 || ref.splitBytes !== 0)) {
    throw new IngotError('INVALID_ARGUMENT', `${file} is part 1 of ${ref.count} of a split bundle`, {
      hint: 'the parts of a split bundle are named <name>.ingot.001, .002, ...',
    });
  }
}

interface OpenPart {
  readonly fh: FileHandle;
  readonly header: PartHeader;
  readonly size: number;
}

async function openPart(file: string, missing: () => IngotError): Promise<OpenPart> {
  const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? missing() : err;
  });
  try {
    const buf = Buffer.alloc(PART_HEADER_LEN);
    const { bytesRead } = await fh.read(buf, 0, PART_HEADER_LEN, 0);
    const header = parsePartHeader(buf.subarray(0, bytesRead), file);
    return { fh, header, size: (await fh.stat()).size };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

function parsePartHeader(b: Buffer, file: string): PartHeader {
  if (b.length < 5 || !b.subarray(0, 4).equals(PART_MAGIC)) {
    throw new IngotError('INVALID_ARGUMENT', `${file} is not an Ingot bundle (no part header)`);
  }
  if (b[4] !== PART_VERSION) {
    throw new IngotError('INVALID_ARGUMENT', `${file}: bundle part version ${b[4]} is not supported`);
  }
  if (b.length < PART_HEADER_LEN) throw new IngotError('TRUNCATED', `${file} ends inside its part header`);
  const splitBytes = b.readBigUInt64BE(32);
  if (splitBytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new IngotError('CORRUPT', `${file}: impossible part size ${splitBytes}`);
  }
  return {
    id: Buffer.from(b.subarray(8, 24)),
    index: b.readUInt32BE(24),
    count: b.readUInt32BE(COUNT_OFFSET),
    splitBytes: Number(splitBytes),
  };
}

/** Opens part `index`, checking it belongs where it lies; `size` pins the size seen at open. */
async function openChecked(file: string, index: number, ref: PartHeader, size?: number): Promise<OpenPart> {
  const p = await openPart(file, () => missingPart(file, index, ref.count));
  try {
    checkHeader(file, p.header, index, ref);
    checkSize(file, p.size, index, ref);
    if (size !== undefined && p.size !== size) {
      throw new IngotError('CORRUPT', `${file} changed size (${size} to ${p.size} bytes) while open`);
    }
    return p;
  } catch (err) {
    await p.fh.close();
    throw err;
  }
}

function checkHeader(file: string, h: PartHeader, index: number, ref: PartHeader): void {
  if (h.count === 0) throw unfinished(file);
  if (!h.id.equals(ref.id)) {
    throw new IngotError('INVALID_ARGUMENT', `${file} belongs to another bundle`, {
      hint: 'every part must come from the same bundle; copy its parts again',
      details: { file, expectedId: ref.id.toString('hex'), foundId: h.id.toString('hex') },
    });
  }
  if (h.index !== index) throw misplaced(file, h.index, index);
  if (h.count !== ref.count || h.splitBytes !== ref.splitBytes) {
    throw new IngotError('CORRUPT', `${file} disagrees with part 1 on the bundle's shape`, {
      details: { file, count: h.count, expectedCount: ref.count },
    });
  }
}

function checkSize(file: string, size: number, index: number, ref: PartHeader): void {
  if (size <= PART_HEADER_LEN) throw new IngotError('TRUNCATED', `${file} holds no bundle data`);
  if (ref.splitBytes === 0) return;
  if (size > ref.splitBytes) {
    throw new IngotError('CORRUPT', `${file} is larger than the bundle's part size ${ref.splitBytes}`);
  }
  if (index < ref.count && size < ref.splitBytes) {
    throw new IngotError('TRUNCATED', `${file} was cut short: ${size} of ${ref.splitBytes} bytes`, {
      hint: 'every part but the last is exactly the part size; copy it again',
    });
  }
}

function unfinished(file: string): IngotError {
  return new IngotError('TRUNCATED', `${file} was never finished: its writer stopped before the end`, {
    hint: 'write the bundle again',
  });
}

function misplaced(file: string, found: number, expected: number): IngotError {
  return new IngotError('INVALID_ARGUMENT', `${file} holds part ${found}, not part ${expected}`, {
    hint: 'the part files were renamed or mixed up; copy them again under their original names',
  });
}

function missingPart(file: string, index: number, count: number): IngotError {
  return new IngotError('TRUNCATED', `${file} is missing: part ${index} of a bundle of ${count} parts`, {
    hint: 'copy every part of the bundle into the same directory',
  });
}

/**
 * Logical bytes [start, end) across the parts, each part's header re-checked as it is opened.
 * Each read fills a buffer from `take` (at most 1 MiB unless `take` gives more); whoever
 * passes a pool's blocks gives them back.
 */
export async function* readLogical(
  set: PartSet,
  start: number,
  end: number,
  take: () => Buffer = () => Buffer.allocUnsafe(IO_BYTES),
): AsyncGenerator<Buffer> {
  let partStart = 0;
  for (const [i, file] of set.files.entries()) {
    const len = (set.sizes[i] as number) - PART_HEADER_LEN;
    const from = Math.max(start, partStart);
    const to = Math.min(end, partStart + len);
    if (from < to) yield* readPart(file, i + 1, set, from - partStart, to - partStart, take);
    partStart += len;
  }
}

async function* readPart(
  file: string,
  index: number,
  set: PartSet,
  from: number,
  to: number,
  take: () => Buffer,
): AsyncGenerator<Buffer> {
  const { fh } = await openChecked(file, index, set.ref, set.sizes[index - 1]);
  try {
    for (let pos = from; pos < to; ) {
      const buf = take();
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, to - pos), PART_HEADER_LEN + pos);
      if (bytesRead === 0) throw new IngotError('TRUNCATED', `${file} shrank while it was read`);
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

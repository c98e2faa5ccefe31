import { IngotError } from '../core/errors.js';
import type { Entry, Timestamp } from '../core/manifest.js';
import { checkEntryPath, comparePaths } from '../core/manifest-paths.js';
import { ARCHIVE_LIMITS, type ArchiveLimits } from './archive-limits.js';
import { type Continuation, type RockRidge, readSystemUse, shortTime } from './iso-rock-ridge.js';
import type { StoredFile } from './stored-file.js';
import { tooBig } from './zip-reader.js';

/**
 * Reads an ISO 9660 image (ECMA-119) into manifest entries, where its chunks lie: the volume
 * descriptors, then the directory records from the root down. Rock Ridge (RRIP) gives the
 * POSIX names, modes, owners, symlinks and times; without it Joliet gives long Unicode names;
 * without either the plain 8.3-ish names are kept. A file's bytes are its extents (several
 * for a file of 4 GiB or more), streamed in entry order by `isoContent`.
 *
 * Refused as BAD_ARCHIVE: a name that is empty, holds "/" or NUL or is "." or "..", a
 * device node, FIFO or socket, a directory that loops back, an extent past the image's end,
 * and sizes or counts past the bounds of archive-limits.ts.
 */

export interface Extent {
  readonly start: number;
  readonly length: number;
}

export interface IsoTree {
  readonly entries: Entry[];
  /** Where each file's bytes lie, by path. */
  readonly extents: ReadonlyMap<string, readonly Extent[]>;
  readonly flavour: 'rock-ridge' | 'joliet' | 'iso9660';
}

const SECTOR = 2048;
const MAX_DESCRIPTORS = 64;
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
const MAX_CONTINUATIONS = 16;
const S_IFMT = 0o170000;
/** File types by S_IFMT bits; sockets, devices and FIFOs (0o140000, 0o060000, 0o020000, 0o010000) are refused. */
const TYPES = new Map<number, Entry['type']>([
  [0o040000, 'dir'],
  [0o100000, 'file'],
  [0o120000, 'symlink'],
]);

interface Volume {
  readonly file: StoredFile;
  readonly block: number;
  readonly joliet: boolean;
  /** Rock Ridge's skip (SP LEN_SKP) when it is present. */
  readonly rrSkip: number | undefined;
  readonly limits: ArchiveLimits;
}

interface DirRecord {
  readonly name: string;
  readonly start: number;
  readonly length: number;
  readonly isDir: boolean;
  readonly more: boolean;
  readonly mtime: Timestamp;
  readonly rr: RockRidge | undefined;
}

export async function readIso(file: StoredFile, limits: ArchiveLimits = ARCHIVE_LIMITS): Promise<IsoTree> {
  const { pvd, svd } = await descriptors(file);
  const block = pvd.readUInt16LE(128);
  if (block < 512 || block > SECTOR || (block & (block - 1)) !== 0)
    throw bad(`its logical block size is ${block} bytes`);
  const root = { start: pvd.readUInt32LE(156 + 2) * block, length: pvd.readUInt32LE(156 + 10) };
  const rrSkip = await rockRidgeSkip(file, root.start);
  const joliet = rrSkip === undefined && svd !== undefined;
  const top =
    joliet && svd ? { start: svd.readUInt32LE(156 + 2) * block, length: svd.readUInt32LE(156 + 10) } : root;
  const vol: Volume = { file, block, joliet, rrSkip, limits };
  const tree = await walk(vol, top);
  return { ...tree, flavour: rrSkip !== undefined ? 'rock-ridge' : joliet ? 'joliet' : 'iso9660' };
}

/** The bytes of every file entry, in entry order: the tree image's content stream. */
export async function* isoContent(file: StoredFile, tree: IsoTree): AsyncGenerator<Buffer> {
  const all = tree.entries.flatMap((e) => (e.type === 'file' ? (tree.extents.get(e.path) ?? []) : []));
  let warmed = 0;
  for (let i = 0; i < all.length; i++) {
    // The next files' chunks are read while this one streams: small files would otherwise
    // wait on one chunk read each.
    while (warmed < all.length && warmed < i + WARM_FILES) {
      const x = all[warmed] as Extent;
      if (!file.warm(x.start, x.start + x.length)) break;
      warmed++;
    }
    const x = all[i] as Extent;
    yield* file.stream(x.start, x.start + x.length);
  }
}

/** How many files ahead of the one streaming `isoContent` asks for (within StoredFile's room). */
const WARM_FILES = 256;

async function descriptors(file: StoredFile): Promise<{ pvd: Buffer; svd: Buffer | undefined }> {
  let pvd: Buffer | undefined;
  let svd: Buffer | undefined;
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const at = (16 + i) * SECTOR;
    if (at + SECTOR > file.size) break;
    const d = await file.read(at, SECTOR);
    if (d.toString('latin1', 1, 6) !== 'CD001') break;
    const type = d[0];
    if (type === 255) break;
    if (type === 1) pvd ??= d;
    const esc = d.toString('latin1', 88, 91);
    if (type === 2 && (esc === '%/@' || esc === '%/C' || esc === '%/E')) svd ??= d;
  }
  if (!pvd) throw bad('it has no ISO 9660 primary volume descriptor (is it an ISO image?)');
  return { pvd, svd };
}

/** SUSP's SP entry in the root's "." record says Rock Ridge is there (and its skip). */
async function rockRidgeSkip(file: StoredFile, rootStart: number): Promise<number | undefined> {
  const head = await file.read(rootStart, Math.min(255, file.size - rootStart));
  const len = head[0] as number;
  const su = head.subarray(34, len);
  if (su.length >= 7 && su.toString('latin1', 0, 2) === 'SP' && su[4] === 0xbe && su[5] === 0xef)
    return su[6] as number;
  return undefined;
}

async function walk(vol: Volume, top: Extent) {
  const entries: Entry[] = [];
  const extents = new Map<string, Extent[]>();
  const seen = new Set<number>();
  const paths = new Set<string>();
  const at = new Map<string, number>();
  const rootDot = (await records(vol, top, true))[0];
  entries.push(dirEntry('.', rootDot));
  let total = 0;
  const queue: { path: string; at: Extent }[] = [{ path: '', at: top }];
  for (let q = queue.shift(); q; q = queue.shift()) {
    if (seen.has(q.at.start))
      throw bad(`the directory ${JSON.stringify(q.path || '.')} loops back to one above it`);
    seen.add(q.at.start);
    let last: { path: string; more: boolean } | undefined;
    const listed = await records(vol, q.at, false);
    if (isRelocationDir(q.path, listed)) dropEntry(entries, paths, q.path);
    for (const r of listed) {
      const path = safePath(q.path, r.name);
      if (last?.more && last.path === path) {
        // A further extent of a file of 4 GiB or more.
        total = grow(vol, { path, index: at.get(path) ?? -1 }, extents, r, entries, total);
        last = { path, more: r.more };
        continue;
      }
      if (r.rr?.relocated) continue;
      if (entries.length >= vol.limits.entries) throw bad(`it lists more than ${vol.limits.entries} entries`);
      const entry = toEntry(path, r);
      if (paths.has(path)) throw bad(`it lists ${JSON.stringify(path)} twice`);
      paths.add(path);
      entries.push(entry);
      if (entry.type === 'dir') queue.push({ path, at: await dirExtent(vol, r) });
      if (entry.type === 'file') {
        extents.set(path, []);
        at.set(path, entries.length - 1);
        total = grow(vol, { path, index: entries.length - 1 }, extents, r, entries, total);
      }
      last = { path, more: r.more };
    }
  }
  entries.sort((a, b) => (a.path === '.' ? -1 : b.path === '.' ? 1 : comparePaths(a.path, b.path)));
  return { entries, extents };
}

/**
 * The directory Rock Ridge moved deep directories into (genisoimage's `rr_moved`, or
 * `.rr_moved` with -hide-rr-moved): in the root, holding nothing but relocated directories,
 * each shown where its CL placeholder is. Left out, as bsdtar and xorriso leave it.
 */
function isRelocationDir(path: string, listed: readonly DirRecord[]): boolean {
  return /^\.?rr_moved$/i.test(path) && listed.length > 0 && listed.every((r) => r.rr?.relocated === true);
}

function dropEntry(entries: Entry[], paths: Set<string>, path: string): void {
  const i = entries.findIndex((e) => e.path === path);
  if (i >= 0) entries.splice(i, 1);
  paths.delete(path);
}

/** Adds an extent to a file: its entry's size grows by it; bounds and the image's end are checked. */
function grow(
  vol: Volume,
  { path, index: i }: { path: string; index: number },
  extents: Map<string, Extent[]>,
  r: DirRecord,
  entries: Entry[],
  total: number,
): number {
  if (r.start + r.length > vol.file.size)
    throw bad(
      `${JSON.stringify(path)} lies past the end of the image (bytes ${r.start}-${r.start + r.length} of ${vol.file.size}): it is truncated`,
    );
  extents.get(path)?.push({ start: r.start, length: r.length });
  const e = entries[i];
  if (e?.type !== 'file') return total;
  const size = (extents.get(path) ?? []).reduce((n, x) => n + x.length, 0);
  if (size > vol.limits.entryBytes)
    throw tooBig(`the ISO file ${JSON.stringify(path)}`, size, vol.limits.entryBytes);
  const now = total + r.length;
  if (now > vol.limits.totalBytes) throw tooBig('the ISO image', now, vol.limits.totalBytes);
  entries[i] = { ...e, size };
  return now;
}

function toEntry(path: string, r: DirRecord): Entry {
  const rr = r.rr;
  const mode = rr?.mode;
  let type: Entry['type'] | 'refused' = r.isDir || rr?.childAt !== undefined ? 'dir' : 'file';
  if (mode !== undefined && rr?.childAt === undefined) type = TYPES.get(mode & S_IFMT) ?? 'refused';
  if (type === 'refused' || rr?.device)
    throw bad(
      `${JSON.stringify(path)} is a device node, FIFO or socket (mode ${(mode ?? 0).toString(8)}); an image holds none`,
    );
  const common = {
    path,
    mode: mode !== undefined ? mode & 0o7777 : type === 'dir' ? 0o755 : 0o644,
    uid: rr?.uid ?? 0,
    gid: rr?.gid ?? 0,
    mtime: rr?.mtime ?? r.mtime,
  };
  if (type === 'symlink') {
    if (!rr?.target) throw bad(`the symlink ${JSON.stringify(path)} has no target`);
    return { ...common, type, target: rr.target };
  }
  if (type === 'dir') return { ...common, type };
  return { ...common, type: 'file', size: 0 };
}

function dirEntry(path: string, r: DirRecord | undefined): Entry {
  const rr = r?.rr;
  return {
    path,
    type: 'dir',
    mode: rr?.mode !== undefined ? rr.mode & 0o7777 : 0o755,
    uid: rr?.uid ?? 0,
    gid: rr?.gid ?? 0,
    mtime: rr?.mtime ?? r?.mtime ?? { sec: 0, nsec: 0 },
  };
}

/** A directory's extent; for a relocated one (CL), the size its own "." record gives. */
async function dirExtent(vol: Volume, r: DirRecord): Promise<Extent> {
  if (r.rr?.childAt === undefined) return { start: r.start, length: r.length };
  const start = r.rr.childAt * vol.block;
  const dot = await vol.file.read(start, 34);
  return { start, length: dot.readUInt32LE(10) };
}

/** The records of a directory's extent; "." and ".." only when `dots` (then only those). */
async function records(vol: Volume, at: Extent, dots: boolean): Promise<DirRecord[]> {
  if (at.length > MAX_DIRECTORY_BYTES) throw tooBig('an ISO directory', at.length, MAX_DIRECTORY_BYTES);
  const buf = await vol.file.read(at.start, at.length);
  const out: DirRecord[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const len = buf[pos] as number;
    if (len === 0) {
      // Records never cross a sector; the rest of this one is padding.
      pos = (Math.floor(pos / SECTOR) + 1) * SECTOR;
      continue;
    }
    if (len < 34 || pos + len > buf.length)
      throw bad(`a directory record at byte ${at.start + pos} is cut or malformed`);
    const rec = buf.subarray(pos, pos + len);
    pos += len;
    const nameLen = rec[32] as number;
    if (33 + nameLen > len)
      throw bad(`a directory record at byte ${at.start + pos - len} has a name past its end`);
    const isDot = nameLen === 1 && (rec[33] === 0 || rec[33] === 1);
    if (isDot !== dots) continue;
    out.push(await record(vol, rec, nameLen));
    if (dots) break;
  }
  return out;
}

async function record(vol: Volume, rec: Buffer, nameLen: number): Promise<DirRecord> {
  const raw = rec.subarray(33, 33 + nameLen);
  const rr =
    vol.rrSkip !== undefined
      ? await rockRidge(vol, rec.subarray(33 + nameLen + (nameLen % 2 === 0 ? 1 : 0) + vol.rrSkip))
      : undefined;
  const flags = rec[25] as number;
  return {
    name: rr?.name ?? plainName(raw, vol.joliet, (flags & 2) !== 0),
    start: rec.readUInt32LE(2) * vol.block + (rec[1] as number) * vol.block,
    length: rec.readUInt32LE(10),
    isDir: (flags & 2) !== 0,
    more: (flags & 0x80) !== 0,
    mtime: shortTime(rec.subarray(18, 25)),
    rr,
  };
}

async function rockRidge(vol: Volume, area: Buffer): Promise<RockRidge> {
  const rr: RockRidge = {};
  const pending = { sl: [] as string[], slOpen: false };
  let ce: Continuation | undefined = readSystemUse(area, rr, pending);
  for (let n = 0; ce; n++) {
    if (n >= MAX_CONTINUATIONS) throw bad('a Rock Ridge continuation chain is longer than 16 areas');
    const more = await vol.file.read(ce.block * vol.block + ce.offset, ce.length);
    ce = readSystemUse(more, rr, pending);
  }
  return rr;
}

function plainName(raw: Buffer, joliet: boolean, isDir: boolean): string {
  let name = joliet ? ucs2(raw) : raw.toString('latin1');
  if (!isDir) name = name.replace(/;\d*$/, '').replace(/\.$/, '');
  return name;
}

function ucs2(raw: Buffer): string {
  const swapped = Buffer.from(raw.subarray(0, raw.length & ~1));
  return swapped.swap16().toString('utf16le');
}

function safePath(dir: string, name: string): string {
  const path = dir === '' ? name : `${dir}/${name}`;
  if (name.includes('/') || name === '.' || name === '..' || name === '')
    throw bad(`it names an entry ${JSON.stringify(path)}, which would escape its directory`);
  try {
    return checkEntryPath(path);
  } catch (cause) {
    throw new IngotError('BAD_ARCHIVE', `the ISO image names an unsafe path: ${(cause as Error).message}`, {
      cause,
    });
  }
}

function bad(why: string): IngotError {
  return new IngotError('BAD_ARCHIVE', `the ISO image cannot be unpacked: ${why}`, {
    hint: 'nothing was listed',
  });
}

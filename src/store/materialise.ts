import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  type FileHandle,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  symlink,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { IngotError } from '../core/errors.js';
import { type Entry, type ManifestDraft, payloadSize } from '../core/manifest.js';
import { validateDraft } from '../core/manifest-codec.js';
import { checkEntryPath } from '../core/manifest-paths.js';
import { type ChunkFetch, type FeedItem, feedChunks } from './chunk-feed.js';
import { diskFullOf } from './disk-space.js';
import { restoreXattrs } from './xattrs.js';

/**
 * Deploys a manifest: a tree into an absent or empty directory, a file to an absent path.
 *
 * Everything is built in a temp sibling `<dest>.ingot-partial-<random>` and renamed into
 * place at the end, so a killed deploy never leaves a half tree at `dest`. Nothing is ever
 * written through a symlink: the codec guarantees every entry's parent is a directory
 * entry, each directory is created by us (mkdir fails on anything existing), files are
 * opened O_CREAT|O_EXCL|O_NOFOLLOW, and every path is checked to stay under the temp root.
 *
 * Metadata order matters: content, then lchown (which clears setuid bits and file
 * capabilities), then xattrs (security.capability among them), then chmod, and last the
 * times, directories deepest first, since creating children changes a directory's mtime.
 */

export interface MaterialiseOptions {
  /** Called with the payload bytes done so far (holes included), after each piece written. */
  onProgress?(bytes: number): void;
}

export interface MaterialiseResult {
  /** Entries made (files, directories, links, devices): the count `image show` gives; 1 for a file. */
  readonly entries: number;
  /** Regular files among them. */
  readonly files: number;
  readonly bytes: number;
  readonly warnings: string[];
}

type FeedIterator = AsyncIterator<FeedItem>;

const IS_ROOT = process.getuid?.() === 0;

export async function materialise(
  manifest: ManifestDraft,
  dest: string,
  fetch: ChunkFetch,
  opts: MaterialiseOptions = {},
): Promise<MaterialiseResult> {
  const draft = validateDraft(manifest);
  const target = resolve(dest);
  await checkDestination(target, draft.payload.kind);
  const tmp = join(dirname(target), `${basename(target)}.ingot-partial-${randomBytes(6).toString('hex')}`);
  const feed = feedChunks(draft.chunks, fetch)[Symbol.asyncIterator]();
  const progress = { done: 0, report: opts.onProgress };
  try {
    if (draft.payload.kind === 'file') {
      await writeFile(tmp, draft.payload.size, feed, progress, 0o600);
      await chmod(tmp, draft.payload.mode);
      await link(tmp, target).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EEXIST' ? conflict(target, 'appeared while deploying') : err;
      });
      await unlink(tmp);
      return { entries: 1, files: 1, bytes: draft.payload.size, warnings: [] };
    }
    const warnings = await buildTree(tmp, draft.payload.entries, feed, progress);
    await rename(tmp, target).catch((err: NodeJS.ErrnoException) => {
      throw ['ENOTEMPTY', 'EEXIST', 'ENOTDIR'].includes(err.code ?? '')
        ? conflict(target, 'changed while deploying')
        : err;
    });
    const files = draft.payload.entries.filter((e) => e.type === 'file').length;
    return { entries: draft.payload.entries.length, files, bytes: payloadSize(draft.payload), warnings };
  } catch (err) {
    await feed.return?.(undefined);
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw (
      (await diskFullOf(err, dirname(target), payloadSize(draft.payload))) ??
      (NOT_WRITABLE.has((err as NodeJS.ErrnoException).code ?? '')
        ? unusableParent(target, err as NodeJS.ErrnoException)
        : err)
    );
  }
}

/** An absent destination gets its missing parent directories (as `mkdir -p`). */
async function checkDestination(target: string, kind: 'tree' | 'file'): Promise<void> {
  const st = await lstat(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw unusableParent(target, err);
  });
  if (!st) {
    await mkdir(dirname(target), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      throw unusableParent(target, err);
    });
    return;
  }
  if (kind === 'tree' && st.isDirectory() && (await readdir(target)).length === 0) return;
  throw conflict(target, kind === 'tree' ? 'exists and is not an empty directory' : 'exists');
}

/** Errors that say the destination's directory cannot be written (the temp sibling's name is ours, not the user's). */
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);

function unusableParent(target: string, cause: NodeJS.ErrnoException): IngotError {
  const why =
    cause.code === 'ENOTDIR' || cause.code === 'EEXIST'
      ? 'is not a directory'
      : NOT_WRITABLE.has(cause.code ?? '')
        ? 'cannot be written'
        : 'cannot be created';
  return new IngotError(
    'PATH_NOT_FOUND',
    `the parent of deploy destination ${target} ${why} (${cause.code})`,
    {
      cause,
      details: { path: dirname(target) },
      hint: 'deploy under a directory you can write, or create the parent first',
    },
  );
}

function conflict(target: string, why: string): IngotError {
  return new IngotError('CONFLICT', `deploy destination ${target} ${why}`, {
    hint: 'choose a new path, or remove the existing one first',
  });
}

async function buildTree(
  tmp: string,
  entries: readonly Entry[],
  feed: FeedIterator,
  progress: Progress,
): Promise<string[]> {
  await mkdir(tmp, { mode: 0o700 });
  const at = (e: Entry) => safeJoin(tmp, e.path);
  const special: Entry[] = [];
  for (const e of entries.slice(1)) {
    const p = at(e);
    if (e.type === 'dir') await mkdir(p, { mode: 0o700 });
    else if (e.type === 'file') await writeFile(p, e.size, feed, progress, 0o600);
    else if (e.type === 'symlink') await symlink(e.target, p);
    else if (e.type === 'hardlink') await link(safeJoin(tmp, e.target), p);
    else special.push(e);
  }
  const warnings = await makeSpecial(special, at);
  const made = entries.filter((e) => e.type !== 'hardlink' && (!isDevice(e) || IS_ROOT));
  if (IS_ROOT) for (const e of made) await lchown(at(e), e.uid, e.gid);
  const withX = made.filter((e) => e.xattrs).map((e) => ({ path: at(e), xattrs: e.xattrs! }));
  warnings.push(...(await restoreXattrs(withX)));
  for (const e of made) if (e.type !== 'dir' && e.type !== 'symlink') await chmod(at(e), e.mode);
  for (const e of made) if (e.type !== 'dir') await setTimes(at(e), e);
  // Deepest first: a parent's mode may forbid reaching its children once applied.
  const dirs = made.filter((e) => e.type === 'dir').reverse();
  for (const e of dirs) {
    await chmod(at(e), e.mode);
    await setTimes(at(e), e);
  }
  return warnings;
}

const isDevice = (e: Entry) => e.type === 'chardev' || e.type === 'blockdev';

/** Defence in depth: the path must be valid again here and resolve under the root. */
function safeJoin(root: string, path: string): string {
  if (path === '.') return root;
  checkEntryPath(path);
  const p = resolve(root, path);
  if (!p.startsWith(root + sep)) throw new IngotError('UNSAFE_PATH', `${path} would leave the deploy root`);
  return p;
}

/** Fifos with one mkfifo process; device nodes need root (mknod), else a warning. */
async function makeSpecial(special: Entry[], at: (e: Entry) => string): Promise<string[]> {
  const warnings: string[] = [];
  const fifos = special.filter((e) => e.type === 'fifo').map(at);
  if (fifos.length > 0) await runTool('mkfifo', ['-m', '600', '--', ...fifos]);
  for (const e of special) {
    if (e.type !== 'chardev' && e.type !== 'blockdev') continue;
    if (!IS_ROOT) {
      warnings.push(`skipped device ${JSON.stringify(e.path)}: creating device nodes needs root`);
      continue;
    }
    await runTool('mknod', [
      '-m',
      '600',
      '--',
      at(e),
      e.type === 'chardev' ? 'c' : 'b',
      String(e.major),
      String(e.minor),
    ]);
  }
  return warnings;
}

function runTool(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    p.on('error', (cause) => reject(new IngotError('INTERNAL', `cannot run ${cmd}`, { cause })));
    p.on('close', (code) => {
      if (code === 0) resolvePromise();
      else reject(new IngotError('INTERNAL', `${cmd} failed (exit ${code}): ${err.trim()}`));
    });
  });
}

/** Node takes seconds as a double: sub-microsecond digits are lost, microseconds are kept. */
async function setTimes(path: string, e: Entry): Promise<void> {
  // Times cross libuv as doubles (~0.2 µs of error today): aim at the middle of the
  // microsecond so the stored time never rounds down into the previous one.
  const t = e.mtime.sec + (Math.floor(e.mtime.nsec / 1000) + 0.5) / 1e6;
  await lutimes(path, t, t);
}

interface Progress {
  done: number;
  readonly report: ((bytes: number) => void) | undefined;
}

/** Writes the next `size` bytes of the stream to a new file; holes are left unwritten. */
async function writeFile(path: string, size: number, feed: FeedIterator, progress: Progress, mode: number) {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const fh = await open(path, flags, mode);
  try {
    let pos = 0;
    while (pos < size) {
      const n = await writeNext(fh, pos, size - pos, feed, path);
      pos += n;
      progress.done += n;
      progress.report?.(progress.done);
    }
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

/**
 * Chunks do not line up with files: a chunk may span several files, so a partly used
 * chunk is kept on the feed iterator and consumed by the next file.
 */
async function writeNext(
  fh: FileHandle,
  pos: number,
  want: number,
  feed: FeedIterator,
  path: string,
): Promise<number> {
  const cur = await nextPiece(feed, path);
  const n = Math.min(want, cur.length - cur.offset);
  if (cur.raw) {
    const slice = cur.raw.subarray(cur.offset, cur.offset + n);
    for (let done = 0; done < n; ) done += (await fh.write(slice, done, n - done, pos + done)).bytesWritten;
  }
  cur.offset += n;
  return n;
}

interface Piece {
  raw: Buffer | undefined;
  length: number;
  offset: number;
}

const current = new WeakMap<FeedIterator, Piece>();

async function nextPiece(feed: FeedIterator, path: string): Promise<Piece> {
  const cur = current.get(feed);
  if (cur && cur.offset < cur.length) return cur;
  const r = await feed.next();
  if (r.done) throw new IngotError('INVALID_MANIFEST', `the chunk stream ended inside ${path}`);
  const { ref, raw } = r.value;
  if (raw && raw.length !== ref.length) {
    throw new IngotError('CORRUPT', `chunk has ${raw.length} bytes, the manifest says ${ref.length}`);
  }
  const piece: Piece = { raw, length: ref.length, offset: 0 };
  current.set(feed, piece);
  return piece;
}

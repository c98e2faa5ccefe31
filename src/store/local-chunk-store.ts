import { createHash } from 'node:crypto';
import { mkdir, opendir, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { IngotError } from '../core/errors.js';
import { assertDigest, type Digest, isDigest } from '../core/manifest.js';
import { writeFileAtomic } from './atomic-write.js';
import type {
  ChunkEncoding,
  ChunkStore,
  ChunkTally,
  EncodedChunk,
  PutManyResult,
  PutOptions,
  StoredChunk,
  StoredChunkInfo,
} from './chunk-store.js';
import { missingChunks } from './chunk-store.js';
import { decodeChunk, encodeChunk } from './compression.js';
import { mapConcurrent } from './concurrency.js';
import { type StorePaths, storePaths } from './paths.js';

/**
 * The chunk store on a local (or shared POSIX) file system.
 *
 * A chunk file `chunks-v1/ab/<digest>` is one encoding byte (0 raw, 1 zstd) followed by
 * the payload. It is written once, atomically (see writeFileAtomic) and only after its
 * digest was checked; an existing file counts as success, and two concurrent writers of one
 * digest both succeed (the second rename replaces identical bytes). Reads decode and re-hash.
 */

const ENCODING_BYTE: Record<ChunkEncoding, number> = { raw: 0, zstd: 1 };
const BYTE_ENCODING: readonly ChunkEncoding[] = ['raw', 'zstd'];
const STAT_CONCURRENCY = 64;
const WRITE_CONCURRENCY = 8;

export class LocalChunkStore implements ChunkStore {
  readonly paths: StorePaths;
  private readonly knownDirs = new Set<string>();
  private tmpReady: Promise<unknown> | undefined;

  constructor(readonly root: string) {
    this.paths = storePaths(root);
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async getEncoded(digest: Digest): Promise<EncodedChunk & { readonly raw: Buffer }> {
    const file = await this.readChunkFile(digest);
    if (file.length < 1 || file[0]! >= BYTE_ENCODING.length) throw corrupt(digest, 'bad encoding byte');
    const chunk = { encoding: BYTE_ENCODING[file[0]!]!, payload: file.subarray(1) };
    let raw: Buffer;
    try {
      raw = await decodeChunk(chunk);
    } catch (cause) {
      throw corrupt(digest, 'payload does not decode', cause);
    }
    const found = sha256(raw);
    if (found !== digest) {
      throw new IngotError('CORRUPT', `stored chunk ${digest} fails verification`, {
        details: { expected: digest, found },
        hint: 'delete the damaged chunk; the next sync or upload fetches it again',
      });
    }
    return { ...chunk, raw };
  }

  async get(digest: Digest): Promise<Buffer> {
    return (await this.getEncoded(digest)).raw;
  }

  async *readStored(digests: readonly Digest[]): AsyncIterable<StoredChunk> {
    const absent: Digest[] = [];
    for (const d of digests) if (!(await this.stat(d))) absent.push(d);
    if (absent.length > 0) throw missingChunks(absent);
    for (const digest of digests) {
      const file = await this.readChunkFile(digest);
      if (file.length < 1 || file[0]! >= BYTE_ENCODING.length) throw corrupt(digest, 'bad encoding byte');
      const encoded = { encoding: BYTE_ENCODING[file[0]!]!, payload: file.subarray(1) };
      // One file per chunk keeps no raw length beside it: decoding tells it (no hashing).
      const rawLength =
        encoded.encoding === 'raw' ? encoded.payload.length : (await decodeChunk(encoded)).length;
      yield { digest, encoded, rawLength };
    }
  }

  async putEncoded(digest: Digest, chunk: EncodedChunk): Promise<number> {
    assertDigest(digest);
    const found = await digestOfEncoded(chunk);
    if (found !== digest) {
      throw new IngotError('DIGEST_MISMATCH', `chunk bytes do not match digest ${digest}`, {
        details: { expected: digest, found },
      });
    }
    return this.write(digest, chunk);
  }

  /**
   * Each chunk is verified and written like putEncoded, several at a time. Concurrent
   * fsyncs on one file system share journal commits, which is where the batch saves.
   */
  async putManyEncoded(
    items: readonly { digest: Digest; chunk: EncodedChunk }[],
    opts: PutOptions = {},
  ): Promise<PutManyResult> {
    let stored = 0;
    let present = 0;
    let storedBytes = 0;
    const rejected: { digest: Digest; found: string }[] = [];
    await mapConcurrent(items, WRITE_CONCURRENCY, async ({ digest, chunk }) => {
      const found = isDigest(digest) ? await digestOfEncoded(chunk) : 'not a digest';
      if (found !== digest) {
        rejected.push({ digest, found });
        return;
      }
      const n = await this.write(digest, chunk);
      if (n > 0) {
        stored++;
        storedBytes += n;
      } else present++;
    });
    opts.onWritten?.();
    return { stored, present, storedBytes, rejected };
  }

  async put(digest: Digest, raw: Buffer): Promise<number> {
    assertDigest(digest);
    const found = sha256(raw);
    if (found !== digest) {
      throw new IngotError('DIGEST_MISMATCH', `chunk bytes do not match digest ${digest}`, {
        details: { expected: digest, found },
      });
    }
    if (await this.touch(digest)) return 0;
    return this.write(digest, await encodeChunk(raw));
  }

  async missing(digests: readonly Digest[]): Promise<Digest[]> {
    const now = new Date();
    const present = await mapConcurrent(digests, STAT_CONCURRENCY, async (d) => {
      if (!isDigest(d)) return false;
      return this.touch(d, now);
    });
    return digests.filter((_, i) => !present[i]);
  }

  /** Whether the chunk is present; if so its mtime becomes `now` (gc spares fresh chunks). */
  private async touch(digest: Digest, now = new Date()): Promise<boolean> {
    // One syscall answers both questions: utimes fails with ENOENT when absent.
    return utimes(this.paths.chunk(digest), now, now).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
  }

  async *list(): AsyncGenerator<StoredChunkInfo> {
    let top: Awaited<ReturnType<typeof opendir>>;
    try {
      top = await opendir(this.paths.chunksDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for await (const fan of top) {
      if (!fan.isDirectory() || !/^[0-9a-f]{2}$/.test(fan.name)) continue;
      for await (const f of await opendir(join(this.paths.chunksDir, fan.name))) {
        if (!isDigest(f.name) || !f.name.startsWith(fan.name)) continue;
        const info = await this.stat(f.name);
        if (info) yield info;
      }
    }
  }

  async stat(digest: Digest): Promise<StoredChunkInfo | undefined> {
    if (!isDigest(digest)) return undefined;
    try {
      const s = await stat(this.paths.chunk(digest));
      // storedBytes counts the payload, as every adapter does; the encoding byte is ours.
      return { digest, storedBytes: Math.max(0, s.size - 1), mtimeMs: s.mtimeMs };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async statMany(digests: readonly Digest[]): Promise<(StoredChunkInfo | undefined)[]> {
    const out: (StoredChunkInfo | undefined)[] = [];
    for (const d of digests) out.push(await this.stat(d));
    return out;
  }

  async tally(digests: readonly Digest[]): Promise<ChunkTally> {
    const absent = new Set(await this.missing(digests));
    let matched = 0;
    let storedBytes = 0;
    for (const info of await this.statMany(digests.filter((d) => !absent.has(d)))) {
      if (!info) continue;
      matched++;
      storedBytes += info.storedBytes;
    }
    return { matched, storedBytes };
  }

  /** `ifTouchedBefore` is checked just before the unlink: files have no atomic conditional delete. */
  async delete(digest: Digest, opts: { ifTouchedBefore?: number } = {}): Promise<void> {
    assertDigest(digest);
    if (opts.ifTouchedBefore !== undefined) {
      const info = await this.stat(digest);
      if (!info || info.mtimeMs >= opts.ifTouchedBefore) return;
    }
    await unlink(this.paths.chunk(digest)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  private async write(digest: Digest, chunk: EncodedChunk): Promise<number> {
    const dest = this.paths.chunk(digest);
    if (await this.touch(digest)) return 0;
    this.tmpReady ??= mkdir(this.paths.tmpDir, { recursive: true });
    await this.tmpReady;
    const header = Buffer.of(ENCODING_BYTE[chunk.encoding]);
    const parts = [header, chunk.payload];
    try {
      await writeFileAtomic(dest, this.paths.tmpDir, parts, (dir) => this.ensureDir(dir));
    } catch (err) {
      // A fan-out directory removed behind our back (e.g. by gc): forget it and retry once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.knownDirs.clear();
      this.tmpReady = mkdir(this.paths.tmpDir, { recursive: true });
      await this.tmpReady;
      await writeFileAtomic(dest, this.paths.tmpDir, parts, (dir) => this.ensureDir(dir));
    }
    return chunk.payload.length;
  }

  /** Fan-out directories are made on first use and remembered, saving a syscall per put. */
  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.knownDirs.add(dir);
  }

  private async readChunkFile(digest: Digest): Promise<Buffer> {
    assertDigest(digest);
    try {
      return await readFile(this.paths.chunk(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new IngotError('NOT_FOUND', `chunk ${digest} is not in the store`, { details: { digest } });
      }
      throw err;
    }
  }
}

/** The digest of a chunk's plain bytes; a payload that does not decode has none. */
async function digestOfEncoded(chunk: EncodedChunk): Promise<string> {
  try {
    return sha256(await decodeChunk(chunk));
  } catch {
    return 'undecodable';
  }
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function corrupt(digest: Digest, why: string, cause?: unknown): IngotError {
  return new IngotError('CORRUPT', `stored chunk ${digest} is damaged: ${why}`, {
    details: { expected: digest },
    ...(cause === undefined ? {} : { cause }),
  });
}

import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';

/**
 * Random access to a file held as a chunk list in the store, with no copy of it on disk:
 * what an archive reader needs to read a downloaded zip or ISO where its chunks lie. Reads
 * are answered from the chunks they cover (each verified by the store's `get`); the last
 * few chunks read are kept, since archive metadata is read in many small, nearby reads.
 */

export type ChunkGet = (digest: Digest) => Promise<Buffer>;

/** 64 chunks of the 64 KiB average: 4 MiB, enough to keep `warm`'s reads ahead in hand. */
const CACHED_CHUNKS = 64;
/** Chunks fetched ahead while streaming a range. */
const READ_AHEAD = 4;
/** Chunks `warm` may have asked for ahead of the reader: half the cache, so none is dropped unread. */
const WARM_CHUNKS = CACHED_CHUNKS / 2;

export class StoredFile {
  readonly size: number;
  /** Offset of each chunk in the file, and the end as the last element. */
  private readonly starts: Float64Array;
  private readonly cache = new Map<number, Promise<Buffer>>();

  constructor(
    private readonly refs: readonly ChunkRef[],
    private readonly get: ChunkGet,
  ) {
    this.starts = new Float64Array(refs.length + 1);
    for (let i = 0; i < refs.length; i++) this.starts[i + 1] = (this.starts[i] as number) + refs[i]!.length;
    this.size = this.starts[refs.length] as number;
  }

  /** Exactly `length` bytes at `position`; BAD_ARCHIVE when they reach past the end. */
  async read(position: number, length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const b of this.stream(position, position + length)) parts.push(b);
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, length);
  }

  /** The bytes of [start, end), in pieces that are never written again. */
  async *stream(start: number, end: number): AsyncGenerator<Buffer> {
    if (start < 0 || end < start || end > this.size) {
      throw new IngotError(
        'BAD_ARCHIVE',
        `the archive names bytes ${start}-${end} of a file of ${this.size} bytes: it is truncated or corrupt`,
        { details: { start, end, size: this.size } },
      );
    }
    if (start === end) return;
    const first = this.chunkAt(start);
    const ahead: Promise<Buffer>[] = [];
    let next = first;
    const fill = () => {
      while (ahead.length < READ_AHEAD && next < this.refs.length && (this.starts[next] as number) < end)
        ahead.push(this.chunk(next++));
    };
    fill();
    for (let i = first; ahead.length > 0; i++) {
      const raw = await (ahead.shift() as Promise<Buffer>);
      fill();
      const at = this.starts[i] as number;
      this.readAt = i;
      yield raw.subarray(Math.max(0, start - at), Math.min(raw.length, end - at));
    }
  }

  /**
   * Starts reading the chunks of [start, end) into the cache, as far as room allows, so a
   * reader of many small ranges (an ISO's files) is not waiting on each chunk in turn.
   * Returns false once the cache has no room for more ahead of the reader.
   */
  warm(start: number, end: number): boolean {
    if (start >= end || end > this.size) return true;
    for (let i = this.chunkAt(start); i < this.refs.length && (this.starts[i] as number) < end; i++) {
      if (i > this.readAt + WARM_CHUNKS) return false;
      if (!this.cache.has(i)) this.chunk(i).catch(() => {});
    }
    return true;
  }

  /** The last chunk `stream` handed out: `warm` reads no further ahead of it than half the cache. */
  private readAt = 0;

  private chunkAt(position: number): number {
    let lo = 0;
    let hi = this.refs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.starts[mid] as number) <= position) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private chunk(i: number): Promise<Buffer> {
    const hit = this.cache.get(i);
    if (hit) {
      this.cache.delete(i);
      this.cache.set(i, hit);
      return hit;
    }
    const ref = this.refs[i] as ChunkRef;
    const p = ref.kind === 'hole' ? Promise.resolve(Buffer.alloc(ref.length)) : this.get(ref.digest);
    p.catch(() => this.cache.delete(i));
    this.cache.set(i, p);
    if (this.cache.size > CACHED_CHUNKS) this.cache.delete(this.cache.keys().next().value as number);
    return p;
  }
}

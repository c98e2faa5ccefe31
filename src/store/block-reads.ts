import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { IngotError } from '../core/errors.js';
import { type BufferPool, dataBuffers } from './buffer-pool.js';
import { copyBytes } from './byte-copy.js';

/**
 * Reading a file once in large blocks that are used again: each read fills a 4 MiB block of
 * the data pool (SharedArrayBuffer-backed, so the CPU pool's workers hash chunks straight
 * out of it), with the next read already under way. createReadStream's fresh buffer per
 * read counted as external memory and set off full collections (~0.3 s per GiB ingested).
 *
 * A block is leased: it goes back to the pool when every holder has released it (the reader
 * once the chunker is past it, and each chunk cut from it once the chunk is stored, known or
 * dropped). A lease never released is only a block the collector takes instead.
 */
export class BlockLease {
  private holders = 1;

  constructor(
    private readonly pool: BufferPool,
    /** The whole block; `bytes` of the read is a view of it. */
    readonly block: Buffer,
  ) {}

  retain(): void {
    // A lease that reached none has given its block back: holding it again would share a
    // block the pool hands out to the next reader.
    if (this.holders <= 0) throw new Error('a block lease was held again after its release');
    this.holders++;
  }

  release(): void {
    if (this.holders <= 0) return;
    if (--this.holders === 0) this.pool.give(this.block);
  }
}

export interface LeasedBytes {
  readonly bytes: Buffer;
  readonly lease: BlockLease;
}

/**
 * The bytes of the file at `path`, `size` of them (its stat before reading), in blocks. A
 * file that ends early or runs past `size` stops the stream with INVALID_ARGUMENT.
 */
export async function* readBlocks(
  path: string,
  size: number,
  pool: BufferPool = dataBuffers,
): AsyncGenerator<LeasedBytes> {
  const fh = await openForRead(path);
  let next: Promise<LeasedBytes | undefined> | undefined;
  try {
    let pos = 0;
    const readAt = async (at: number): Promise<LeasedBytes | undefined> => {
      if (at >= size) return undefined;
      const block = pool.take(pool.blockBytes);
      const want = Math.min(block.length, size - at);
      let fill = 0;
      while (fill < want) {
        const { bytesRead } = await fh.read(block, fill, want - fill, at + fill);
        if (bytesRead === 0) {
          pool.give(block);
          throw changed(path, size, at + fill);
        }
        fill += bytesRead;
      }
      return { bytes: block.subarray(0, fill), lease: new BlockLease(pool, block) };
    };
    next = readAt(0);
    for (;;) {
      const got = await next;
      next = undefined;
      if (!got) break;
      pos += got.bytes.length;
      next = readAt(pos);
      next.catch(() => {}); // surfaced when awaited
      yield got;
    }
    const probe = Buffer.allocUnsafe(1);
    if ((await fh.read(probe, 0, 1, size)).bytesRead !== 0) throw changed(path, size, undefined);
  } finally {
    await next?.then((b) => b?.lease.release()).catch(() => {});
    await fh.close();
  }
}

async function openForRead(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (cause) {
    throw new IngotError('PATH_NOT_FOUND', `cannot read ${path}`, {
      cause,
      hint: 'check the path exists and is readable by this user',
    });
  }
}

function changed(path: string, size: number, endedAt: number | undefined): IngotError {
  const now = endedAt === undefined ? 'then more' : `then it ended at ${endedAt}`;
  return new IngotError('INVALID_ARGUMENT', `${path} changed while reading (${size} bytes, ${now})`, {
    hint: 'ingest it again once nothing writes to it',
  });
}

/**
 * The same blocks filled from a stream (a download): its pieces, whatever their sizes, are
 * copied into pooled blocks, each yielded once full (and the last one at the end), so the
 * chunker and the CPU pool see the large shared blocks a file read gives them. An item may
 * be a batch of pieces (a body read in batches, read-batches.ts).
 */
export async function* fillBlocks(
  items: AsyncIterable<Uint8Array | readonly Uint8Array[]>,
  pool: BufferPool = dataBuffers,
): AsyncGenerator<LeasedBytes> {
  const blocks = new BlockFill(pool);
  try {
    for await (const item of items)
      for (const piece of item instanceof Uint8Array ? [item] : item) {
        let at = 0;
        while (at < piece.length) {
          const room = blocks.room();
          const n = Math.min(room.length, piece.length - at);
          copyBytes(room, 0, piece.subarray(at, at + n));
          at += n;
          const full = blocks.filled(n);
          if (full) yield full;
        }
      }
    const last = blocks.last();
    if (last) yield last;
  } finally {
    blocks.drop();
  }
}

/**
 * Pooled blocks filled one after another (from a stream, from many small files): `room` is
 * what is left of the block being filled, `filled` says how much of it was written and
 * answers the block once full, `last` the part-filled one at the end. `drop` gives back a
 * block never answered (on failure).
 */
export class BlockFill {
  private block: Buffer | undefined;
  private fill = 0;

  constructor(private readonly pool: BufferPool) {}

  room(): Buffer {
    this.block ??= this.pool.take(this.pool.blockBytes);
    return this.block.subarray(this.fill);
  }

  filled(n: number): LeasedBytes | undefined {
    this.fill += n;
    return this.block && this.fill === this.block.length ? this.answer() : undefined;
  }

  last(): LeasedBytes | undefined {
    return this.block && this.fill > 0 ? this.answer() : undefined;
  }

  drop(): void {
    if (this.block) this.pool.give(this.block);
    this.block = undefined;
    this.fill = 0;
  }

  private answer(): LeasedBytes {
    const block = this.block as Buffer;
    const bytes = block.subarray(0, this.fill);
    this.block = undefined;
    this.fill = 0;
    return { bytes, lease: new BlockLease(this.pool, block) };
  }
}

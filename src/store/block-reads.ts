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
  let block: Buffer | undefined;
  let fill = 0;
  try {
    for await (const item of items)
      for (const piece of item instanceof Uint8Array ? [item] : item) {
        let at = 0;
        while (at < piece.length) {
          block ??= pool.take(pool.blockBytes);
          const n = Math.min(block.length - fill, piece.length - at);
          copyBytes(block, fill, piece.subarray(at, at + n));
          fill += n;
          at += n;
          if (fill === block.length) {
            const full = block;
            block = undefined;
            fill = 0;
            yield { bytes: full, lease: new BlockLease(pool, full) };
          }
        }
      }
    if (block && fill > 0) {
      const last = block;
      block = undefined;
      yield { bytes: last.subarray(0, fill), lease: new BlockLease(pool, last) };
    }
  } finally {
    if (block) pool.give(block);
  }
}

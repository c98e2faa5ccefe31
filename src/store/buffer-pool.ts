import { copyBytes } from './byte-copy.js';

/**
 * Reused blocks for the data path's large, short-lived buffers: the runs a sender reads from
 * its packs and the groups a receiver stores. A fresh multi-megabyte Buffer per read set off
 * a full garbage collection every ~50 MB moved (V8 counts such memory as external pressure),
 * which cost each side of a pull ~2 s of CPU per GiB; blocks that come back are used again.
 *
 * A caller gives a block back only when nothing refers to its bytes any more; one it never
 * gives back is simply collected. Blocks are whole ArrayBuffers of their own (never the
 * shared 8 KiB pool), so giving back a view of another allocation is refused by its size.
 * A `shared` pool's blocks are SharedArrayBuffers, which worker threads read in place.
 */
export class BufferPool {
  private readonly idle: Buffer[] = [];

  constructor(
    readonly blockBytes: number,
    private readonly maxIdle: number,
    private readonly opts: { readonly shared?: boolean } = {},
  ) {}

  /** `n` bytes, of a pooled block when `n` fits one. The contents are not cleared. */
  take(n: number): Buffer {
    if (n > this.blockBytes) return Buffer.allocUnsafeSlow(n);
    const block = this.idle.pop() ?? this.fresh();
    return block.subarray(0, n);
  }

  /** Returns the block `b` is a view of; anything else is ignored. */
  give(b: Buffer): void {
    const ab = b.buffer;
    const kind = this.opts.shared ? SharedArrayBuffer : ArrayBuffer;
    if (!(ab instanceof kind) || ab.byteLength !== this.blockBytes) return;
    if (this.idle.length < this.maxIdle) this.idle.push(Buffer.from(ab, 0, this.blockBytes));
  }

  private fresh(): Buffer {
    if (this.opts.shared) return Buffer.from(new SharedArrayBuffer(this.blockBytes));
    return Buffer.allocUnsafeSlow(this.blockBytes);
  }

  get idleBlocks(): number {
    return this.idle.length;
  }
}

/**
 * Copies of lent bytes (ports.ts) kept in pooled blocks, filled one after another: what a
 * receiver's store group or an upload batch holds past the next chunk. Bytes larger than a
 * block get a buffer of their own. release() gives every block back; call it only once
 * nothing refers to the copies any more.
 */
export class PooledCopies {
  private readonly blocks: Buffer[] = [];
  private used = 0;

  constructor(private readonly pool: BufferPool) {}

  copy(bytes: Buffer): Buffer {
    if (bytes.length > this.pool.blockBytes) return Buffer.from(bytes);
    let block = this.blocks.at(-1);
    if (block === undefined || this.used + bytes.length > block.length) {
      block = this.pool.take(this.pool.blockBytes);
      this.blocks.push(block);
      this.used = 0;
    }
    const out = block.subarray(this.used, this.used + bytes.length);
    // Blocks of a shared pool are shared memory, where Buffer#copy goes byte by byte.
    copyBytes(out, 0, bytes);
    this.used += bytes.length;
    return out;
  }

  release(): void {
    for (const b of this.blocks.splice(0)) this.pool.give(b);
    this.used = 0;
  }
}

/**
 * Socket writes of chunk streams (1 MiB, see frame-codec.ts): a stream has two in flight
 * (one in the socket, one being filled); at most 16 wait idle.
 */
export const socketBuffers = new BufferPool(2 ** 20, 16);

/** Block size of the process's data pool: a pack run read, a receiver's group, a file's read. */
export const DATA_BLOCK_BYTES = 4 * 2 ** 20;

/**
 * The process's pool for chunk bytes: the runs a sender reads from its packs, the groups a
 * receiver stores, the blocks a file is read into for ingest (block-reads.ts). Its blocks
 * are SharedArrayBuffers, so the CPU pool's workers hash the chunks in them where they lie,
 * with no copy into a slot of their own (that copy, ~0.5 s of a receiver's main thread per
 * GiB, was its largest single cost). A pull or push in flight uses ~3 blocks per stream at
 * each end, an ingest ~10. Up to 24 wait idle (96 MiB): a block given back past that is
 * dropped, and a dropped SharedArrayBuffer is not collected soon (the collector does not
 * count its memory as external pressure), so a pool that drops blocks while its use swings
 * leaks them for a while. Measured, a server serving four 1 GiB pulls at once (8 streams):
 * peak RSS 1128 MiB with 12 idle, 356 MiB with 24 (32: 354), heap ~95 MiB either way.
 */
export const dataBuffers = new BufferPool(DATA_BLOCK_BYTES, 24, { shared: true });

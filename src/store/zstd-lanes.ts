import {
  constants,
  createZstdCompress,
  createZstdDecompress,
  type ZstdCompress,
  type ZstdDecompress,
} from 'node:zlib';

/**
 * zstd through a few long-lived node:zlib streams, one frame per chunk. node:zlib's one-shot
 * calls (zstdCompress, zstdDecompressSync, ...) each make a zstd context that is freed only
 * when the garbage collector gets to its handle, and V8 does not count that memory: adding
 * a 190 MiB tree grew the CLI to 405 MiB (250 MiB with the native binding used before).
 * A stream keeps one context: each chunk is written and flushed with ZSTD_e_end, which ends
 * the frame, and the next chunk starts a new, independent one. A stream that fails, or whose
 * output runs past its bound, is dropped and a fresh one takes its place.
 *
 * Measured here, 3000 64 KiB text chunks one at a time: peak RSS 76 MiB through one stream,
 * 132 MiB with the one-shot calls (a bare process is 41 MiB).
 */

type Engine = ZstdCompress | ZstdDecompress;

class Lane<E extends Engine> {
  private engine: E | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly make: () => E) {}

  /** Runs one frame through the lane, after the frames queued before it. */
  run(input: Buffer, flush: number, maxOutput: number): Promise<Buffer> {
    const job = this.tail.then(() => this.once(input, flush, maxOutput));
    this.tail = job.catch(() => {});
    return job;
  }

  /**
   * One frame; where the engine stops short of the input's end (a decoder stops at the end
   * of a frame, and node then ends the stream: the next write would fail "push() after
   * EOF"), the engine is dropped and the rest goes through a fresh one, so a payload of
   * several frames decodes whole, as zstd's format allows.
   */
  private async once(input: Buffer, flush: number, maxOutput: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let size = 0;
    let rest = input;
    do {
      this.engine ??= this.make();
      const engine = this.engine;
      const before = engine.bytesWritten;
      const out = await this.step(engine, rest, flush, maxOutput - size);
      parts.push(out);
      size += out.length;
      const consumed = engine.bytesWritten - before;
      if (consumed >= rest.length) break;
      this.drop(engine);
      if (consumed === 0) throw new RangeError('zstd took none of its input');
      rest = rest.subarray(consumed);
    } while (rest.length > 0);
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
  }

  private step(engine: E, input: Buffer, flush: number, maxOutput: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      const fail = (err: Error) => {
        cleanup();
        this.drop(engine);
        reject(err);
      };
      const onData = (d: Buffer) => {
        parts.push(d);
        size += d.length;
        if (size > maxOutput) fail(new RangeError(`zstd output passed its bound`));
      };
      const cleanup = () => {
        engine.off('data', onData);
        engine.off('error', fail);
      };
      engine.on('data', onData);
      engine.once('error', fail);
      engine.write(input);
      engine.flush(flush, () => {
        cleanup();
        if (size <= maxOutput)
          resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size));
      });
    });
  }

  private drop(engine: E): void {
    if (this.engine === engine) this.engine = undefined;
    engine.on('error', () => {});
    engine.destroy();
  }
}

class Lanes<E extends Engine> {
  private readonly lanes: Lane<E>[];
  private next = 0;

  constructor(count: number, make: () => E) {
    this.lanes = Array.from({ length: count }, () => new Lane(make));
  }

  run(input: Buffer, flush: number, maxOutput: number): Promise<Buffer> {
    const lane = this.lanes[this.next++ % this.lanes.length] as Lane<E>;
    return lane.run(input, flush, maxOutput);
  }
}

/** Enough streams to keep libuv's pool busy; each holds one zstd context (~1-2 MiB). */
const LANES = 4;

/**
 * The streams' output pieces. Each piece is a round trip through libuv's pool and a callback
 * on the main thread; node's default 16 KiB gives a 64-88 KiB chunk five or six. Measured
 * here on 160 MiB of ext4 image in 88 KiB chunks: decompressing took 397 ms of the main
 * thread at 16 KiB, 169 ms at 128 KiB (CPU 595 -> 285 ms); compressing 246 -> 177 ms. A piece
 * may share its buffer with the next chunk's first bytes, so a chunk kept long can hold up
 * to this much more than its own size.
 */
const PIECE_BYTES = 128 * 1024;

let compressors: Lanes<ZstdCompress> | undefined;
let decompressors: Lanes<ZstdDecompress> | undefined;

/** The store's zstd level (see compression.ts for the choice). */
export const ZSTD_LEVEL = 2;

/** One complete zstd frame of `raw` at ZSTD_LEVEL. */
export async function zstdFrame(raw: Buffer): Promise<Buffer> {
  compressors ??= new Lanes(LANES, () =>
    createZstdCompress({
      chunkSize: PIECE_BYTES,
      params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL },
    }),
  );
  return withoutEmptyTail(await compressors.run(raw, constants.ZSTD_e_end, Number.MAX_SAFE_INTEGER));
}

/**
 * The frame zstd writes for ZSTD_e_end on no input at our parameters: header (magic,
 * single segment, content size 0) and one empty last raw block.
 */
const EMPTY_FRAME = Buffer.from('28b52ffd2000010000', 'hex');

/**
 * When a frame's last bytes exactly fill node's output buffer, node calls the compressor
 * again with the same ZSTD_e_end flag and no input, and zstd, its frame already ended,
 * writes a second, empty one (about 1 chunk in 4000 here). Harmless to a one-shot decoder,
 * but the payload is then two frames: drop the empty one.
 */
export function withoutEmptyTail(frame: Buffer): Buffer {
  const tail = frame.length - EMPTY_FRAME.length;
  return tail > 0 && frame.subarray(tail).equals(EMPTY_FRAME) ? frame.subarray(0, tail) : frame;
}

/**
 * The bytes of one zstd frame, refusing past `maxOutput`. The caller has checked the
 * frame's structure (zstd-bound.ts), so a frame always ends within its input: a cut one
 * would leave the stream mid-frame, and the caller's length check then fails it too.
 */
export function zstdUnframe(payload: Buffer, maxOutput: number): Promise<Buffer> {
  decompressors ??= new Lanes(LANES, () => createZstdDecompress({ chunkSize: PIECE_BYTES }));
  return decompressors.run(payload, constants.ZSTD_e_flush, maxOutput);
}

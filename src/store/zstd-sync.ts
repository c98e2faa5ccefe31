import { constants, createZstdCompress, createZstdDecompress } from 'node:zlib';
import { frameContentSize, zstdDecodedBound } from './zstd-bound.js';
import { ZSTD_LEVEL } from './zstd-lanes.js';

/**
 * zstd on the calling thread, for the CPU pool's workers (cpu-work.ts). The streams of
 * zstd-lanes.ts suit the event loop: each chunk goes to libuv's pool and its callback comes
 * back. A worker is a core of its own, and each chunk's round trip there and back cost it
 * more than the decoding (perf of a tree's full pull, receiver: a quarter of its samples in
 * thread wake-ups and switches between the workers and libuv's threads).
 *
 * So each thread keeps one compressor and one decompressor (one zstd context each, as the
 * lanes do) and drives its native handle the way node:zlib's own sync calls do (lib/zlib.js,
 * processChunkSync: `writeSync`, then the two counts left in `_writeState`), except that the
 * handle is not closed after the frame: the one-shot sync calls make a context per call,
 * freed only when the collector reaches it. node is pinned to one major (package.json), and
 * zstd-sync.test.ts holds this to node's own results.
 */

interface NativeZstd {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
}

interface Engine {
  readonly handle: NativeZstd;
  /** After writeSync: output space left, input left. */
  readonly state: Uint32Array;
  readonly stream: { destroyed: boolean; errored: Error | null; destroy(): void };
}

function engineOf(stream: ReturnType<typeof createZstdCompress | typeof createZstdDecompress>): Engine {
  const inner = stream as unknown as { _handle: NativeZstd; _writeState: Uint32Array };
  // node reports a zstd error by destroying the stream with it; nothing else listens.
  stream.on('error', () => {});
  return { handle: inner._handle, state: inner._writeState, stream };
}

type Which = 'compress' | 'decompress';
const engines: Partial<Record<Which, Engine>> = {};

function engine(which: Which): Engine {
  let e = engines[which];
  if (!e) {
    e = engineOf(
      which === 'compress'
        ? createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } })
        : createZstdDecompress(),
    );
    engines[which] = e;
  }
  return e;
}

function drop(which: Which): void {
  engines[which]?.stream.destroy();
  delete engines[which];
}

/** One step of an engine; a failure drops it (a fresh one is made next time). */
function step(
  which: Which,
  flush: number,
  input: Uint8Array,
  inOff: number,
  out: Uint8Array,
  outOff: number,
): { consumed: number; produced: number } {
  const e = engine(which);
  const inLen = input.length - inOff;
  const outLen = out.length - outOff;
  e.handle.writeSync(flush, input, inOff, inLen, out, outOff, outLen);
  if (e.stream.destroyed) {
    drop(which);
    throw e.stream.errored ?? new Error(`zstd ${which} failed`);
  }
  return { consumed: inLen - (e.state[1] as number), produced: outLen - (e.state[0] as number) };
}

/** One complete zstd frame of `raw` at ZSTD_LEVEL. */
export function zstdFrameSync(raw: Uint8Array): Buffer {
  // zstd's compress bound, plus room for the frame header and the last block's header.
  let out = Buffer.allocUnsafe(raw.length + (raw.length >>> 8) + 1024);
  let consumed = 0;
  let written = 0;
  for (;;) {
    const s = step('compress', constants.ZSTD_e_end, raw, consumed, out, written);
    consumed += s.consumed;
    written += s.produced;
    if (written < out.length) return out.subarray(0, written);
    const bigger = Buffer.allocUnsafe(out.length * 2);
    out.copy(bigger, 0, 0, written);
    out = bigger;
  }
}

/**
 * The bytes of the zstd frames in `payload`, refusing past `maxOutput` (RangeError);
 * `transient`: see SCRATCH_BYTES. A payload must be whole frames by their headers
 * (zstdDecodedBound), so a good one leaves the decoder between frames, ready for the next;
 * any failure drops the decoder. (Resetting it after every payload instead makes node build
 * a new zstd context: 4% of a pull's samples.)
 */
export function zstdUnframeSync(payload: Uint8Array, maxOutput: number, transient = false): Buffer {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  // One byte past the bound: filling it means the frames decode to more than allowed.
  const cap = maxOutput + 1;
  const bound = zstdDecodedBound(buf);
  if (bound === undefined) throw new RangeError('zstd payload is not whole frames');
  const size = Math.min(cap, (frameContentSize(buf) ?? bound) + 1, bound + 1);
  let out = transient && size <= SCRATCH_BYTES ? scratch() : Buffer.allocUnsafe(size);
  let consumed = 0;
  let written = 0;
  try {
    for (;;) {
      const s = step('decompress', 0, buf, consumed, out, written);
      consumed += s.consumed;
      written += s.produced;
      if (written > maxOutput) throw new RangeError('zstd output passed its bound');
      if (written === out.length) {
        // Full: zstd may hold more output; drain it into a larger buffer.
        const bigger = Buffer.allocUnsafe(Math.min(cap, out.length * 2));
        out.copy(bigger, 0, 0, written);
        out = bigger;
      } else if (consumed >= buf.length) {
        break;
      } else if (s.consumed === 0 && s.produced === 0) {
        throw new RangeError('zstd took none of its input');
      }
    }
  } catch (err) {
    drop('decompress');
    throw err;
  }
  return out.subarray(0, written);
}

/**
 * `transient` output (a verify that hashes the bytes and drops them) goes to one buffer the
 * thread reuses, valid until its next call: a 64 KiB chunk then costs its worker no
 * allocation and its collector nothing.
 */
const SCRATCH_BYTES = 2 ** 20;
let scratchBuffer: Buffer | undefined;

function scratch(): Buffer {
  scratchBuffer ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  return scratchBuffer;
}

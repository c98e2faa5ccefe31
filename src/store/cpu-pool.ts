import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Digest } from '../core/manifest.js';
import type { EncodedChunk } from './chunk-store.js';
import { backToBack, type CpuResult, type CpuTask, runCpuTask } from './cpu-work.js';

/**
 * The one pool for CPU-heavy chunk work (SHA-256, zstd decoding for verification): a worker
 * thread per core, shared by everything in the process, so hashing never runs on the event
 * loop and an ingest, a transfer and a verify together use every core and no more.
 *
 * A batch goes as one message: its chunks copied once into a buffer of its own that is
 * transferred, not cloned (cloning views cost more than hashing them, measured). The
 * least-loaded worker (pending bytes) takes it. Workers keep the process alive only while
 * they have work. Without a compiled worker (running from TypeScript sources) the same
 * functions run in-thread.
 *
 * zstd compression stays on libuv's pool (node:zlib's async calls): it needs no copy to
 * get there and runs in parallel already.
 */
export interface CpuPool {
  hash(chunks: readonly Uint8Array[]): Promise<Digest[]>;
  /**
   * Decodes each encoded chunk (at most `maxRaw` bytes) and hashes the result. Callers
   * bound zstd payloads from their headers first (zstd-bound.ts); this is the second fence.
   */
  verify(
    chunks: readonly EncodedChunk[],
    opts: { maxRaw: number; keepRaw?: boolean },
  ): Promise<Verification[]>;
}

export type Verification =
  | { readonly digest: Digest; readonly rawLength: number; readonly raw?: Buffer; readonly error?: undefined }
  | { readonly error: string };

const WORKER_URL = new URL('./cpu-worker.js', import.meta.url);

let shared: CpuPool | undefined;

/** The process's pool, started on first use. */
export function cpuPool(): CpuPool {
  shared ??= existsSync(fileURLToPath(WORKER_URL))
    ? workerPool(Math.max(1, availableParallelism()))
    : poolOver(runCpuTask);
  return shared;
}

type Run = (task: CpuTask) => Promise<CpuResult>;

function poolOver(run: Run): CpuPool {
  return {
    async hash(chunks) {
      const r = await run({ op: 'hash', bytes: backToBack(chunks), lengths: chunks.map((c) => c.length) });
      return r.digests as Digest[];
    },
    async verify(chunks, opts) {
      const r = await run({
        op: 'verify',
        bytes: backToBack(chunks.map((c) => c.payload)),
        lengths: chunks.map((c) => c.payload.length),
        encodings: chunks.map((c) => (c.encoding === 'zstd' ? 1 : 0)),
        maxRaw: opts.maxRaw,
        keepRaw: opts.keepRaw ?? false,
      });
      return verifications(r);
    },
  };
}

function verifications(r: CpuResult): Verification[] {
  let offset = 0;
  const raw = r.raw && Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength);
  return r.digests.map((digest, i) => {
    const error = r.errors[i];
    if (error) return { error };
    const rawLength = r.rawLengths[i] as number;
    const slice = raw?.subarray(offset, offset + rawLength);
    offset += rawLength;
    return slice
      ? { digest: digest as Digest, rawLength, raw: slice }
      : { digest: digest as Digest, rawLength };
  });
}

interface Lane {
  readonly worker: Worker;
  pendingBytes: number;
  pending: number;
}

function workerPool(size: number): CpuPool {
  const waiting = new Map<
    number,
    { lane: Lane; bytes: number; resolve(r: CpuResult): void; reject(e: unknown): void }
  >();
  let nextId = 0;
  const lanes: Lane[] = Array.from({ length: size }, () => {
    const lane: Lane = { worker: new Worker(WORKER_URL), pendingBytes: 0, pending: 0 };
    lane.worker.unref();
    // A worker still starting is ref'd again when it comes online (its port): say again.
    lane.worker.once('online', () => {
      if (lane.pending === 0) lane.worker.unref();
    });
    lane.worker.on('message', (msg: CpuResult & { id: number }) => settle(msg.id, (w) => w.resolve(msg)));
    lane.worker.on('error', (err) => {
      for (const [id, w] of waiting) if (w.lane === lane) settle(id, (x) => x.reject(err));
    });
    return lane;
  });
  const settle = (id: number, fn: (w: NonNullable<ReturnType<typeof waiting.get>>) => void) => {
    const w = waiting.get(id);
    if (!w) return;
    waiting.delete(id);
    w.lane.pendingBytes -= w.bytes;
    if (--w.lane.pending === 0) w.lane.worker.unref();
    fn(w);
  };
  return poolOver(
    (task) =>
      new Promise((resolve, reject) => {
        const lane = lanes.reduce((a, b) => (b.pendingBytes < a.pendingBytes ? b : a));
        const id = nextId++;
        const bytes = task.bytes.length;
        waiting.set(id, { lane, bytes, resolve, reject });
        lane.pendingBytes += bytes;
        if (lane.pending++ === 0) lane.worker.ref();
        lane.worker.postMessage({ id, ...task }, [task.bytes.buffer as ArrayBuffer]);
      }),
  );
}

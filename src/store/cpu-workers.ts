import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { copyBytes } from './byte-copy.js';
import { backToBack, type CpuJob, type CpuResult } from './cpu-work.js';

/**
 * The CPU pool's workers (cpu-worker.ts): one thread a core, each with shared slots a batch
 * is copied into, or a buffer moved to it, or offsets in a caller's SharedArrayBuffer.
 * cpu-pool.ts cuts batches and shapes the answers; this file only runs them.
 */

/** Runs a job over `parts`, laid back to back. */
export type Run = (job: CpuJob, parts: readonly Uint8Array[]) => Promise<CpuResult>;

const WORKER_URL = new URL('./cpu-worker.js', import.meta.url);

/** Whether the compiled worker exists (not when running from TypeScript sources). */
export function workersBuilt(): boolean {
  return existsSync(fileURLToPath(WORKER_URL));
}

interface Lane {
  readonly worker: Worker;
  readonly slots: Uint8Array;
  readonly free: number[];
  pendingBytes: number;
  pending: number;
}

const SLOTS = 4;
/** A batch larger than this is cut into pieces (cpu-pool.ts) or moved to its worker whole. */
export const SLOT_BYTES = 2 * 2 ** 20;

/** A Run over `size` workers, each with SLOTS shared slots of SLOT_BYTES. */
export function workerRun(size: number): Run {
  type Waiting = {
    lane: Lane;
    bytes: number;
    slot?: number;
    resolve(r: CpuResult): void;
    reject(e: unknown): void;
  };
  const waiting = new Map<number, Waiting>();
  let nextId = 0;
  const lanes: Lane[] = Array.from({ length: size }, () => {
    const shared = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
    const worker = new Worker(WORKER_URL, { workerData: { slots: shared, slotBytes: SLOT_BYTES } });
    const free = Array.from({ length: SLOTS }, (_, i) => i);
    const lane: Lane = { worker, slots: new Uint8Array(shared), free, pendingBytes: 0, pending: 0 };
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
    if (w.slot !== undefined) w.lane.free.push(w.slot);
    w.lane.pendingBytes -= w.bytes;
    if (--w.lane.pending === 0) w.lane.worker.unref();
    fn(w);
  };
  return (job, parts) =>
    new Promise((resolve, reject) => {
      // A stream stays on one worker (its running hash lives there); the rest go where least is queued.
      const lane =
        job.stream === undefined
          ? lanes.reduce((a, b) => (b.pendingBytes < a.pendingBytes ? b : a))
          : (lanes[job.stream % lanes.length] as Lane);
      const id = nextId++;
      const bytes = parts.reduce((n, p) => n + p.length, 0);
      // A stream's update copies its bytes before it returns (callers reuse the block at
      // once), unless they are lent. Named by offsets, items must be the parts themselves
      // (not a reference's parts joined).
      const byOffsets = (job.stream === undefined || job.lent) && job.lengths.length === parts.length;
      const backing = byOffsets ? sharedBacking(parts) : undefined;
      if (backing) {
        waiting.set(id, { lane, bytes, resolve, reject });
        lane.pendingBytes += bytes;
        if (lane.pending++ === 0) lane.worker.ref();
        const offsets = parts.map((p) => p.byteOffset);
        lane.worker.postMessage({ id, ...job, shared: backing, offsets });
        return;
      }
      const slot = bytes <= SLOT_BYTES ? lane.free.pop() : undefined;
      waiting.set(id, { lane, bytes, ...(slot === undefined ? {} : { slot }), resolve, reject });
      lane.pendingBytes += bytes;
      if (lane.pending++ === 0) lane.worker.ref();
      if (slot === undefined) {
        const own = backToBack(parts);
        lane.worker.postMessage({ id, ...job, bytes: own }, [own.buffer as ArrayBuffer]);
        return;
      }
      let at = slot * SLOT_BYTES;
      for (const p of parts) {
        copyBytes(lane.slots, at, p);
        at += p.length;
      }
      lane.worker.postMessage({ id, ...job, slot });
    });
}

/** The one SharedArrayBuffer every part lies in, if there is one. */
function sharedBacking(parts: readonly Uint8Array[]): SharedArrayBuffer | undefined {
  const first = parts[0]?.buffer;
  if (!(first instanceof SharedArrayBuffer)) return undefined;
  return parts.every((p) => p.buffer === first) ? first : undefined;
}

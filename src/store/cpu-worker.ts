// Worker side of cpu-pool.ts: one batch per message, on its own core. A batch lies in a
// slot of the buffer shared with the pool (`slot`), in a buffer moved with it (`bytes`), or
// at `offsets` in a SharedArrayBuffer of the caller's (`shared`: a file's read block).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { type CpuJob, runCpuTask } from './cpu-work.js';

/**
 * Deltas go through node:zlib's one-shot calls (a dictionary per chunk rules out the
 * long-lived streams of zstd-lanes.ts), whose zstd contexts are freed only when the
 * collector reaches their handles, and a worker's small heap gives it little reason to run:
 * 3000 deltas of 64 KiB chunks grew a process by ~100 MiB. So the worker collects after
 * every DELTA_GC_BYTES of delta work (measured: peak RSS 179 -> 115 MiB, ~9% more time).
 * At 16 MiB each worker's malloc arena still holds ~48 MiB at a 1 GiB delta pull's peak
 * (pmap), the receiver reaching 345-370 MiB. At 4 MiB it peaked at 289-320 MiB, but each
 * side spent ~1 s more CPU (perf: V8's marking threads a third of the sender's), so 16 stays.
 */
const DELTA_GC_BYTES = 16 * 2 ** 20;
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
let deltaBytes = 0;

const { slots, slotBytes } = workerData as { slots: SharedArrayBuffer; slotBytes: number };

type Message = CpuJob & {
  id: number;
  slot?: number;
  bytes?: Uint8Array;
  shared?: SharedArrayBuffer;
  offsets?: number[];
};

parentPort?.on('message', async (msg: Message) => {
  const size = msg.lengths.reduce((n, l) => n + l, 0);
  const bytes = msg.shared
    ? new Uint8Array(msg.shared)
    : msg.slot === undefined
      ? (msg.bytes as Uint8Array)
      : new Uint8Array(slots, msg.slot * slotBytes, size);
  const result = await runCpuTask({ ...msg, bytes });
  if (msg.op === 'delta' || msg.op === 'undelta') {
    deltaBytes += size;
    if (deltaBytes >= DELTA_GC_BYTES) {
      deltaBytes = 0;
      collect();
    }
  }
  const transfer = result.raw ? [result.raw.buffer as ArrayBuffer] : [];
  parentPort?.postMessage({ id: msg.id, ...result }, transfer);
});

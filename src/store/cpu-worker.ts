// Worker side of cpu-pool.ts: one batch per message, on its own core. A batch lies in a
// slot of the buffer shared with the pool (`slot`), in a buffer moved with it (`bytes`), or
// at `offsets` in a SharedArrayBuffer of the caller's (`shared`: a file's read block).
import { parentPort, workerData } from 'node:worker_threads';
import { type CpuJob, runCpuTask } from './cpu-work.js';

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
  const transfer = result.raw ? [result.raw.buffer as ArrayBuffer] : [];
  parentPort?.postMessage({ id: msg.id, ...result }, transfer);
});

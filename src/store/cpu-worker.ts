// Worker side of cpu-pool.ts: one batch per message, on its own core. A batch lies either
// in a slot of the buffer shared with the pool (`slot`) or in a buffer moved with it.
import { parentPort, workerData } from 'node:worker_threads';
import { type CpuJob, runCpuTask } from './cpu-work.js';

const { slots, slotBytes } = workerData as { slots: SharedArrayBuffer; slotBytes: number };

parentPort?.on('message', async (msg: CpuJob & { id: number; slot?: number; bytes?: Uint8Array }) => {
  const size = msg.lengths.reduce((n, l) => n + l, 0);
  const bytes =
    msg.slot === undefined ? (msg.bytes as Uint8Array) : new Uint8Array(slots, msg.slot * slotBytes, size);
  const result = await runCpuTask({ ...msg, bytes });
  const transfer = result.raw ? [result.raw.buffer as ArrayBuffer] : [];
  parentPort?.postMessage({ id: msg.id, ...result }, transfer);
});

// Worker side of cpu-pool.ts: one batch per message, on its own core.
import { parentPort } from 'node:worker_threads';
import { type CpuTask, runCpuTask } from './cpu-work.js';

parentPort?.on('message', async (msg: CpuTask & { id: number }) => {
  const result = await runCpuTask(msg);
  const transfer = result.raw ? [result.raw.buffer as ArrayBuffer] : [];
  parentPort?.postMessage({ id: msg.id, ...result }, transfer);
});

// Worker side of hash-pool.ts: SHA-256 of each chunk in a batch, on its own core.
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', (msg: { id: number; chunks: Uint8Array[] }) => {
  const digests = msg.chunks.map((c) => createHash('sha256').update(c).digest('hex'));
  parentPort?.postMessage({ id: msg.id, digests });
});

// Worker side of hash-pool.ts: SHA-256 of each chunk in a batch, on its own core.
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/** One buffer holds the batch back to back; `lengths` cut it into chunks. */
parentPort?.on('message', (msg: { id: number; bytes: Uint8Array; lengths: number[] }) => {
  let offset = 0;
  const digests = msg.lengths.map((n) => {
    const d = createHash('sha256')
      .update(msg.bytes.subarray(offset, offset + n))
      .digest('hex');
    offset += n;
    return d;
  });
  parentPort?.postMessage({ id: msg.id, digests });
});

// Worker side of hash-pool.ts: SHA-256 of each chunk in a batch, on its own core.
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

/** The slots the pool copies batches into, shared once at start (see hash-pool.ts). */
const shared = new Uint8Array((workerData as { slots: SharedArrayBuffer }).slots);

/**
 * One buffer holds the batch back to back and `lengths` cut it into chunks: either a
 * buffer of its own, moved here, or a stretch of the shared slots.
 */
parentPort?.on(
  'message',
  (msg: { id: number; bytes?: Uint8Array; offset?: number; size?: number; lengths: number[] }) => {
    const bytes = msg.bytes ?? shared.subarray(msg.offset, (msg.offset as number) + (msg.size as number));
    let offset = 0;
    const digests = msg.lengths.map((n) => {
      const d = createHash('sha256')
        .update(bytes.subarray(offset, offset + n))
        .digest('hex');
      offset += n;
      return d;
    });
    parentPort?.postMessage({ id: msg.id, digests });
  },
);

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Digest } from '../core/manifest.js';

/**
 * SHA-256 of chunks on a worker thread, so hashing runs on the second core while the
 * chunker keeps the first. Chunks go in batches (one message per ~1 MiB), copied once,
 * because a message per 64 KiB chunk costs more than that. Where the compiled worker is
 * not there (running from TypeScript sources), it hashes inline: same results, one core.
 */
export interface HashPool {
  hash(chunks: readonly Buffer[]): Promise<Digest[]>;
  close(): Promise<void>;
}

const WORKER_URL = new URL('./hash-worker.js', import.meta.url);

/**
 * Batches are copied into one of a few slots of a buffer shared with the worker, so a
 * batch costs a copy and a small message. Moving a fresh buffer per batch instead cost
 * the server ~0.9 s of main-thread time per GiB (allocation, page faults, and the GCs
 * that external memory churn sets off in a large heap), more than hashing inline.
 * A batch that finds no free slot, or does not fit one, is moved in a buffer of its own.
 */
const SLOTS = 4;
const SLOT_BYTES = 2 * 1024 * 1024;

export function createHashPool(): HashPool {
  if (!existsSync(fileURLToPath(WORKER_URL))) return inlinePool();
  const slots = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
  const view = new Uint8Array(slots);
  const free = Array.from({ length: SLOTS }, (_, i) => i);
  const worker = new Worker(WORKER_URL, { workerData: { slots } });
  worker.unref();
  const waiting = new Map<number, { resolve(d: Digest[]): void; reject(e: unknown): void }>();
  let nextId = 0;
  worker.on('message', (msg: { id: number; digests: Digest[] }) => {
    waiting.get(msg.id)?.resolve(msg.digests);
    waiting.delete(msg.id);
  });
  worker.on('error', (err) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  });
  const copy = (chunks: readonly Buffer[], into: Uint8Array, at: number) => {
    let offset = at;
    for (const c of chunks) {
      into.set(c, offset);
      offset += c.length;
    }
  };
  return {
    hash(chunks) {
      const id = nextId++;
      const size = chunks.reduce((n, c) => n + c.length, 0);
      const lengths = chunks.map((c) => c.length);
      const slot = size <= SLOT_BYTES ? free.pop() : undefined;
      return new Promise<Digest[]>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        if (slot !== undefined) {
          copy(chunks, view, slot * SLOT_BYTES);
          worker.postMessage({ id, offset: slot * SLOT_BYTES, size, lengths });
          return;
        }
        const bytes = new Uint8Array(size);
        copy(chunks, bytes, 0);
        worker.postMessage({ id, bytes, lengths }, [bytes.buffer]);
      }).finally(() => {
        if (slot !== undefined) free.push(slot);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}

function inlinePool(): HashPool {
  return {
    hash: async (chunks) => chunks.map((c) => createHash('sha256').update(c).digest('hex') as Digest),
    close: async () => {},
  };
}

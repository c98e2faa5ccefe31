import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Digest } from '../core/manifest.js';

/**
 * SHA-256 of chunks on a worker thread, so hashing runs on the second core while the
 * chunker keeps the first. Chunks go in batches (one message per ~1 MiB), copied once into
 * a buffer that is transferred, because a message per 64 KiB chunk costs more than that. Where the compiled worker is not
 * there (running from TypeScript sources), it hashes inline: same results, one core.
 */
export interface HashPool {
  hash(chunks: readonly Buffer[]): Promise<Digest[]>;
  close(): Promise<void>;
}

const WORKER_URL = new URL('./hash-worker.js', import.meta.url);

export function createHashPool(): HashPool {
  if (!existsSync(fileURLToPath(WORKER_URL))) return inlinePool();
  const worker = new Worker(WORKER_URL);
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
  return {
    hash(chunks) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        // One copy into a buffer of our own, then moved, not cloned: structured cloning
        // of the chunk views cost more than the hashing itself.
        const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let offset = 0;
        for (const c of chunks) {
          bytes.set(c, offset);
          offset += c.length;
        }
        worker.postMessage({ id, bytes, lengths: chunks.map((c) => c.length) }, [bytes.buffer]);
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

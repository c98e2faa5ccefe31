import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { PackChunkStore } from '../store/pack-chunk-store.js';
import { receiveChunks } from './chunk-receiver.js';
import type { WireChunk } from './ports.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempStore(): Promise<PackChunkStore> {
  const dir = await mkdtemp(join(tmpdir(), 'ingot-recv-'));
  dirs.push(dir);
  return PackChunkStore.open(join(dir, 'store'));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex') as Digest;

/** A source that lends: every payload is the same buffer, overwritten for the next chunk. */
async function* lending(chunks: readonly Buffer[]): AsyncGenerator<WireChunk> {
  const lent = Buffer.alloc(Math.max(...chunks.map((c) => c.length)));
  for (const c of chunks) {
    c.copy(lent);
    const payload = lent.subarray(0, c.length);
    yield { digest: sha(c), encoded: { encoding: 'raw', payload }, rawLength: c.length };
  }
}

describe('receiveChunks', () => {
  it('keeps every chunk of a source that reuses its buffers, across many store groups', async () => {
    const store = await tempStore();
    try {
      // ~20 MiB: several 4 MiB groups in flight, sizes that do not divide a block.
      const chunks = Array.from({ length: 230 }, (_, i) => randomBytes(60_000 + i * 97));
      const totals = await receiveChunks(store, lending(chunks));
      expect(totals).toMatchObject({ received: 230, stored: 230, present: 0 });
      for (const c of chunks) expect((await store.get(sha(c))).equals(c)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('answers only once every chunk it took is durable and listed', async () => {
    const store = await tempStore();
    try {
      const chunks = Array.from({ length: 100 }, () => randomBytes(100_000));
      await receiveChunks(store, lending(chunks));
      expect(await store.missing(chunks.map(sha))).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

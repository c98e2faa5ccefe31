import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import type { ChunkSink, WireChunk } from './ports.js';
import { type PendingChunk, uploadChunks } from './uploader.js';

const chunk = (i: number): PendingChunk => {
  const raw = Buffer.alloc(64, i);
  const digest = createHash('sha256').update(raw).digest('hex') as Digest;
  return { ref: { kind: 'data', digest, length: raw.length }, raw };
};

async function* stream(items: PendingChunk[]) {
  yield* items;
}

/** A sink whose puts settle when the test says, in any order. */
function heldSink() {
  const puts: { digests: Digest[]; settle: () => void }[] = [];
  let arrived: () => void = () => {};
  const sink: ChunkSink = {
    missing: async (digests) => [...digests],
    async put(chunks: AsyncIterable<WireChunk>) {
      const digests: Digest[] = [];
      for await (const c of chunks) digests.push(c.digest);
      const settled = Promise.withResolvers<void>();
      puts.push({ digests, settle: settled.resolve });
      arrived();
      await settled.promise;
      return { stored: digests.length, storedBytes: digests.length * 64 };
    },
  };
  const until = async (n: number) => {
    while (puts.length < n) await new Promise<void>((r) => (arrived = r));
  };
  return { sink, puts, until };
}

describe('uploadChunks onDurable', () => {
  it('reports a prefix only once every batch before it has settled, whatever order they settle in', async () => {
    const { sink, puts, until } = heldSink();
    const items = [
      chunk(1),
      chunk(2),
      { ref: { kind: 'hole', length: 64 } } as PendingChunk,
      chunk(3),
      chunk(1),
      chunk(4),
    ];
    const seen: number[] = [];
    const done = uploadChunks(sink, stream(items), {
      batchChunks: 2,
      inFlight: 3,
      onDurable: (n) => seen.push(n),
    });
    await until(2);
    // Puts may arrive in either order (each batch is encoded apart): find them by content.
    const holding = (c: PendingChunk) => {
      const put = puts.find((p) => p.digests.includes((c.ref as { digest: Digest }).digest));
      if (!put) throw new Error('no put holds that chunk');
      return put;
    };
    holding(items[3] as PendingChunk).settle(); // chunks 3 and 4: not durable before 1 and 2 are
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([]);
    holding(items[0] as PendingChunk).settle(); // chunks 1 and 2, then 3 and 4 behind them
    const { refs } = await done;
    expect(refs).toHaveLength(6);
    // Two batches: [1, 2] launched after 2 chunks, [3, 4] after all 6 (the duplicate of 1 and
    // the hole ride with it); then the end.
    expect(seen).toEqual([6, 6]);
  });

  it('counts a stream with no new chunks as durable at its end', async () => {
    const { sink } = heldSink();
    const seen: number[] = [];
    await uploadChunks(sink, stream([{ ref: { kind: 'hole', length: 64 } }]), {
      onDurable: (n) => seen.push(n),
    });
    expect(seen).toEqual([1]);
  });
});

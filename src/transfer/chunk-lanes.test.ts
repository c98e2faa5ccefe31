import { describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { moveChunks } from './chunk-lanes.js';
import type { ChunkSet } from './chunk-sets.js';
import { NO_PROGRESS } from './image-sides.js';
import type { MovingChunk, PutAnswer, TransferSink, TransferSource } from './ports.js';

const MiB = 2 ** 20;

/** Six chunks said to be 8 MiB each: three data requests of two (16 MiB a request). */
function sixChunks(): { set: ChunkSet; digests: Digest[] } {
  const digests = Array.from({ length: 6 }, (_, i) => i.toString(16).padStart(64, '0') as Digest);
  const set: ChunkSet = {
    size: digests.length,
    bytes: digests.length * 8 * MiB,
    lengthOf: () => 8 * MiB,
    batches: async function* () {
      yield [...digests];
    },
  };
  return { set, digests };
}

/** A source that records each request and streams small stand-ins for the chunks asked. */
function recordingSource(fetched: Digest[][]): TransferSource {
  return {
    fetch: async (digests) => {
      fetched.push([...digests]);
      return (async function* (): AsyncGenerator<MovingChunk> {
        for (const digest of digests)
          yield { digest, encoded: { encoding: 'raw', payload: Buffer.alloc(1) }, rawLength: 8 * MiB };
      })();
    },
  };
}

/** A sink that reads each request whole at once, then answers only when `settle` is called. */
function gatedSink(fail?: (n: number) => boolean) {
  const pending: (() => void)[] = [];
  let puts = 0;
  const sink: TransferSink = {
    missing: async (digests) => [...digests],
    put: async (chunks) => {
      const n = puts++;
      let stored = 0;
      for await (const _ of chunks) stored++;
      await new Promise<void>((resolve) => pending.push(resolve));
      if (fail?.(n)) throw new Error(`put ${n} failed`);
      return { stored, storedBytes: stored } satisfies PutAnswer;
    },
  };
  const settleOne = () => pending.shift()?.();
  return { sink, settleOne, waiting: () => pending.length };
}

/** Waits on turns of the event loop for `cond`, failing the test after two seconds. */
const until = async (cond: () => boolean) => {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((r) => setImmediate(r));
  }
};

describe('moveChunks', () => {
  it("asks for a lane's next slice while the last one is still being made durable", async () => {
    const { set, digests } = sixChunks();
    const fetched: Digest[][] = [];
    const { sink, settleOne, waiting } = gatedSink();
    const progress = { ...NO_PROGRESS };
    const moving = moveChunks(recordingSource(fetched), sink, set, progress, { streams: 1 });
    // The first slice is read whole and not yet acknowledged: the second is already asked.
    await until(() => fetched.length === 2 && waiting() === 2);
    expect(fetched).toEqual([digests.slice(0, 2), digests.slice(2, 4)]);
    // No third until the first is acknowledged: two slices per lane at most.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(fetched.length).toBe(2);
    settleOne();
    await until(() => fetched.length === 3);
    settleOne();
    await until(() => waiting() === 1);
    settleOne();
    await moving;
    expect(progress.chunksSent).toBe(6);
  });

  it('fails the move when an acknowledgement that overlapped the next slice fails', async () => {
    const { set } = sixChunks();
    const { sink, settleOne, waiting } = gatedSink((n) => n === 0);
    const moving = moveChunks(recordingSource([]), sink, set, { ...NO_PROGRESS }, { streams: 1 });
    const outcome = moving.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    await until(() => waiting() === 2);
    settleOne();
    settleOne();
    expect(await outcome).toBe('put 0 failed');
  });
});

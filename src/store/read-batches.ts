import { finished, Readable } from 'node:stream';

/**
 * A byte source read as batches: every buffer that arrived since the last step, in one
 * array. A Readable's own async iterator costs a promise, a 'readable' event and a
 * nextTick for every buffer, and over TLS a buffer is one 16 KiB record: 65536 of them a
 * GiB, which on a receiver's main thread cost ~0.25 s of CPU per GiB and most of its
 * young garbage. Here a Readable flows into a queue through 'data' events and is paused
 * once `highWater` bytes wait, so a step awaits only when nothing is queued.
 */
export function readBatches(source: AsyncIterable<Buffer>, highWater = 4 * 2 ** 20): AsyncIterable<Buffer[]> {
  return source instanceof Readable ? flowing(source, highWater) : single(source);
}

async function* single(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer[]> {
  for await (const b of source) yield [b];
}

async function* flowing(stream: Readable, highWater: number): AsyncGenerator<Buffer[]> {
  let queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const onData = (b: Buffer) => {
    queue.push(b);
    queued += b.length;
    if (queued >= highWater) stream.pause();
    wake?.();
  };
  // finished() reports a premature close (a cut connection) as an error, as the iterator does.
  const stop = finished(stream, (err) => {
    if (err) failure = err;
    else ended = true;
    wake?.();
  });
  stream.on('data', onData);
  try {
    for (;;) {
      if (queue.length > 0) {
        const out = queue;
        queue = [];
        queued = 0;
        if (stream.isPaused()) stream.resume();
        yield out;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    stream.off('data', onData);
    stop();
    if (!ended) stream.destroy();
  }
}

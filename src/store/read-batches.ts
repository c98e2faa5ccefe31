import { finished, Readable } from 'node:stream';

/** Reads a byte source in batches: every buffer that arrived, once at least `min` bytes have. */
export interface BatchReader {
  /** At least `min` bytes (fewer only at the end), or undefined once the source has ended. */
  read(min: number): Promise<Buffer[] | undefined>;
  /**
   * Stops reading. A Readable is left paused, not destroyed: an upload's request body must
   * not take its socket down before the error answer is sent.
   */
  close(): void;
}

/**
 * A Readable's own async iterator costs a promise, a 'readable' event and a nextTick for
 * every buffer, and over TLS a buffer is one 16 KiB record: 65536 of them a GiB, most of a
 * receiver's young garbage. Here a Readable flows into a queue through 'data' events,
 * paused once `highWater` bytes wait, and a reader is woken only once the bytes it said it
 * needs are there: a 64 KiB payload is one wake, not four.
 */
export function batchReader(source: AsyncIterable<Buffer>, highWater = 4 * 2 ** 20): BatchReader {
  return source instanceof Readable ? new FlowingReader(source, highWater) : new IteratorReader(source);
}

class FlowingReader implements BatchReader {
  private queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: unknown;
  private waiting: { min: number; wake: () => void } | undefined;
  private readonly stop: () => void;
  private readonly onData = (b: Buffer) => {
    this.queue.push(b);
    this.queued += b.length;
    // A reader waiting for more than the high-water mark (a large payload) is not starved.
    if (this.queued >= Math.max(this.highWater, this.waiting?.min ?? 0)) this.stream.pause();
    if (this.waiting && this.queued >= this.waiting.min) this.waiting.wake();
  };

  constructor(
    private readonly stream: Readable,
    private readonly highWater: number,
  ) {
    // finished() reports a premature close (a cut connection) as an error, as the iterator does.
    this.stop = finished(stream, (err) => {
      if (err) this.failure = err;
      else this.ended = true;
      this.waiting?.wake();
    });
    stream.on('data', this.onData);
  }

  async read(min: number): Promise<Buffer[] | undefined> {
    if (this.queued < min && !this.ended && this.failure === undefined) {
      if (this.stream.isPaused()) this.stream.resume();
      await new Promise<void>((wake) => {
        this.waiting = { min, wake };
      });
      this.waiting = undefined;
    }
    if (this.queue.length > 0) {
      const out = this.queue;
      this.queue = [];
      this.queued = 0;
      if (this.stream.isPaused()) this.stream.resume();
      return out;
    }
    if (this.failure !== undefined) throw this.failure;
    return undefined;
  }

  close(): void {
    this.stream.off('data', this.onData);
    this.stop();
    this.stream.pause();
  }
}

class IteratorReader implements BatchReader {
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  async read(min: number): Promise<Buffer[] | undefined> {
    const out: Buffer[] = [];
    for (let got = 0; got < Math.max(1, min); ) {
      const r = await this.it.next();
      if (r.done) break;
      out.push(r.value);
      got += r.value.length;
    }
    return out.length > 0 ? out : undefined;
  }

  close(): void {
    void this.it.return?.();
  }
}

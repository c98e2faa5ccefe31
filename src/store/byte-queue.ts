/**
 * A FIFO of buffers. `take` returns a view when the bytes lie in one buffer and copies
 * only when they span several, so big payloads that arrive whole are never copied.
 */
export class ByteQueue {
  private bufs: Buffer[] = [];
  private head = 0; // offset into bufs[0]
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.bufs.push(b);
    this.length += b.length;
  }

  peekByte(): number {
    return (this.bufs[0] as Buffer)[this.head] as number;
  }

  private scratch = Buffer.alloc(0);

  take(n: number): Buffer {
    return this.view(n) ?? this.gather(Buffer.allocUnsafe(n));
  }

  /** As take, but bytes that span buffers land in the scratch buffer, overwritten by the next. */
  lend(n: number): Buffer {
    const view = this.view(n);
    if (view) return view;
    if (this.scratch.length < n) this.scratch = Buffer.allocUnsafeSlow(2 ** Math.ceil(Math.log2(n)));
    return this.gather(this.scratch.subarray(0, n));
  }

  /** The next `n` bytes as a view, when they lie in one buffer. */
  private view(n: number): Buffer | undefined {
    const first = this.bufs[0];
    if (n === 0) return Buffer.alloc(0);
    if (!first || first.length - this.head < n) return undefined;
    const out = first.subarray(this.head, this.head + n);
    this.advance(n);
    return out;
  }

  private gather(out: Buffer): Buffer {
    const n = out.length;
    let filled = 0;
    while (filled < n) {
      const b = this.bufs[0] as Buffer;
      const k = Math.min(n - filled, b.length - this.head);
      b.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.advance(k);
    }
    return out;
  }

  private advance(n: number): void {
    this.head += n;
    this.length -= n;
    if (this.head === (this.bufs[0] as Buffer).length) {
      this.bufs.shift();
      this.head = 0;
    }
  }
}

/**
 * At most `limit` batches in flight, the way a sender overlaps its reads, the receiver's
 * have/want answers and the receiver's durable writes: launch returns once there is room for
 * the next batch (so memory stays bounded), and the first failure is thrown by the next
 * launch or by drain. Used by the ingest uploader and by bundle import.
 */
export class InFlight {
  private readonly running = new Set<Promise<void>>();
  private failed = false;
  private failure: unknown;

  constructor(private readonly limit: number) {}

  async launch(work: () => Promise<void>): Promise<void> {
    if (this.failed) throw this.failure;
    const p = work().catch((err: unknown) => {
      if (this.failed) return;
      this.failed = true;
      this.failure = err;
    });
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    while (this.running.size >= this.limit) await Promise.race(this.running);
    if (this.failed) throw this.failure;
  }

  /** Waits for every batch launched, then throws the first failure if there was one. */
  async drain(): Promise<void> {
    await Promise.all(this.running);
    if (this.failed) throw this.failure;
  }
}

/**
 * A bounded queue between one producer and several consumers: `put` waits while it is full,
 * `take` waits while it is empty and gives undefined once it has ended, and a failure on
 * either side wakes everyone with it, so no lane waits forever on a producer that died.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly takers: { resolve(v: T | undefined): void; reject(e: unknown): void }[] = [];
  private readonly putters: { resolve(): void; reject(e: unknown): void }[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;

  constructor(private readonly capacity: number) {}

  async put(item: T): Promise<void> {
    while (!this.failure && this.items.length >= this.capacity) {
      await new Promise<void>((resolve, reject) => this.putters.push({ resolve, reject }));
    }
    if (this.failure) throw this.failure.error;
    const taker = this.takers.shift();
    if (taker) taker.resolve(item);
    else this.items.push(item);
  }

  async take(): Promise<T | undefined> {
    if (this.items.length > 0) {
      const item = this.items.shift() as T;
      this.putters.shift()?.resolve();
      return item;
    }
    if (this.failure) throw this.failure.error;
    if (this.ended) return undefined;
    return new Promise((resolve, reject) => this.takers.push({ resolve, reject }));
  }

  end(): void {
    this.ended = true;
    for (const t of this.takers.splice(0)) t.resolve(undefined);
  }

  fail(error: unknown): void {
    if (this.failure) return;
    this.failure = { error };
    for (const t of this.takers.splice(0)) t.reject(error);
    for (const p of this.putters.splice(0)) p.reject(error);
  }
}

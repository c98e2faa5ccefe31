/**
 * How the chunk store grew since this process started, for the console's plot: samples of
 * the store's totals, kept in memory (nothing is written: a restart starts a new history).
 * A sample is kept when the totals changed and `minGapMs` passed since the last one kept,
 * or when `flatMs` passed without a change (so a flat line has points); the first reading
 * always stays. When `max` samples are held, every other one of the
 * older half is dropped: the whole history stays, coarser the further back it goes.
 */
export interface StoreSample {
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly chunks: number;
  readonly bytes: number;
}

export interface StoreGrowthOptions {
  readonly max?: number;
  readonly minGapMs?: number;
  readonly flatMs?: number;
}

export class StoreGrowth {
  private readonly kept: StoreSample[] = [];
  private readonly max: number;
  private readonly minGapMs: number;
  private readonly flatMs: number;

  constructor(opts: StoreGrowthOptions = {}) {
    this.max = Math.max(4, opts.max ?? 1000);
    this.minGapMs = opts.minGapMs ?? 5000;
    this.flatMs = opts.flatMs ?? 5 * 60_000;
  }

  /** Offers a reading taken at `at`; answers whether it was kept. */
  sample(at: number, totals: { readonly chunks: number; readonly bytes: number }): boolean {
    const last = this.kept.at(-1);
    const s = { at, chunks: totals.chunks, bytes: totals.bytes };
    if (last && !this.due(last, s)) return false;
    this.kept.push(s);
    if (this.kept.length > this.max) this.thin();
    return true;
  }

  /** Oldest first. */
  samples(): readonly StoreSample[] {
    return [...this.kept];
  }

  private due(last: StoreSample, s: StoreSample): boolean {
    const changed = s.bytes !== last.bytes || s.chunks !== last.chunks;
    const gap = s.at - last.at;
    return changed ? gap >= this.minGapMs : gap >= this.flatMs;
  }

  private thin(): void {
    const half = Math.floor(this.kept.length / 2);
    const older = this.kept.splice(0, half);
    // The very first sample stays: it is where the history starts.
    this.kept.unshift(...older.filter((_, i) => i % 2 === 0));
  }
}

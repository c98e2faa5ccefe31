import { createCipheriv, createHash } from 'node:crypto';

/**
 * Seeded, reproducible randomness for the benchmark data generators.
 *
 * - `Rng`: a small PRNG (mulberry32, 32-bit state) for choices: which blocks, which files,
 *   which sizes. Same seed, same sequence, on every machine.
 * - `RandomBytes`: a fast stream of pseudo-random bytes (AES-128-CTR over zeros, keyed from a
 *   label), for payloads. Same label, same bytes.
 */
export class Rng {
  private state: number;

  constructor(seed: string | number) {
    this.state =
      typeof seed === 'number' ? seed >>> 0 : createHash('sha256').update(seed).digest().readUInt32LE(0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median, clamped to [lo, hi]. */
  logNormal(median: number, sigma: number, lo: number, hi: number): number {
    const x = Math.round(median * Math.exp(sigma * this.normal()));
    return Math.min(hi, Math.max(lo, x));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(0, items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  /** `k` distinct integers from [0, n), sorted ascending. */
  sample(n: number, k: number): number[] {
    if (k > n) throw new Error(`cannot sample ${k} of ${n}`);
    const chosen = new Set<number>();
    while (chosen.size < k) chosen.add(this.int(0, n));
    return [...chosen].sort((a, b) => a - b);
  }
}

export class RandomBytes {
  private readonly cipher;
  private zeros = Buffer.alloc(0);

  constructor(label: string) {
    const key = createHash('sha256').update(`ingot-bench:${label}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  }

  /** The next `n` bytes of this stream. */
  take(n: number): Buffer {
    if (this.zeros.length < n) this.zeros = Buffer.alloc(n);
    return this.cipher.update(this.zeros.subarray(0, n));
  }
}

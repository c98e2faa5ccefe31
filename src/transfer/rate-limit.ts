/**
 * A byte-rate cap shared by every stream to one peer. Each take reserves the next slot on
 * one timeline (virtual scheduling), so any number of concurrent streams together stay
 * under the rate, in arrival order, and a burst of up to `burstBytes` passes at once.
 */
export class RateLimiter {
  private cursor = 0;

  constructor(
    private bytesPerSecond: number,
    private readonly burstBytes = Math.max(256 * 1024, bytesPerSecond / 4),
    private readonly now: () => number = () => performance.now(),
  ) {}

  get rate(): number {
    return this.bytesPerSecond;
  }

  setRate(bytesPerSecond: number): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  /** Resolves when `bytes` may go; callers send them right after. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.now();
    const burstMs = (this.burstBytes / this.bytesPerSecond) * 1000;
    this.cursor = Math.max(this.cursor, now - burstMs) + (bytes / this.bytesPerSecond) * 1000;
    const wait = this.cursor - burstMs - now;
    if (wait > 0) await sleep(wait, signal);
  }
}

/** One limiter per peer, reused by every transfer to or from it while the cap stands. */
export class RateLimits {
  private readonly byPeer = new Map<string, RateLimiter>();

  /** The peer's limiter, or undefined when it has no cap. */
  forPeer(peer: string, bytesPerSecond: number | null | undefined): RateLimiter | undefined {
    if (!bytesPerSecond) {
      this.byPeer.delete(peer);
      return undefined;
    }
    let limiter = this.byPeer.get(peer);
    if (!limiter) {
      limiter = new RateLimiter(bytesPerSecond);
      this.byPeer.set(peer, limiter);
    } else if (limiter.rate !== bytesPerSecond) limiter.setRate(bytesPerSecond);
    return limiter;
  }
}

/** Paces a chunk stream through `limiter` (none: unchanged), counting frame overhead too. */
export async function* throttled<T extends Framed>(
  chunks: AsyncIterable<T>,
  limiter: RateLimiter | undefined,
  onBytes?: (n: number, chunk: T) => void,
): AsyncGenerator<T> {
  for await (const c of chunks) {
    const n = frameBytes(c);
    await limiter?.take(n);
    onBytes?.(n, c);
    yield c;
  }
}

/** Bytes a chunk frame adds to its payload on the wire (see the frame codec). */
export const FRAME_OVERHEAD = 42;

interface Framed {
  readonly encoded: { readonly payload: Buffer; readonly references?: readonly unknown[] };
}

/** A chunk's bytes on the wire: its payload, its frame header, and a delta's reference list. */
export function frameBytes(c: Framed): number {
  const refs = c.encoded.references;
  return c.encoded.payload.length + FRAME_OVERHEAD + (refs ? 1 + 32 * refs.length : 0);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Parses `20M`, `512K`, `1.5G` or plain bytes per second (binary units, as rsync's --bwlimit). */
export function parseRate(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?(?:\/s)?$/i.exec(value.trim());
  if (!m) return Number.NaN;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[
    (m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'
  ];
  return Math.round(Number(m[1]) * unit);
}

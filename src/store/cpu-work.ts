import { createHash, type Hash } from 'node:crypto';
import { zstdUnframe } from './zstd-lanes.js';

/**
 * The CPU-heavy work on chunks, as plain functions over one buffer that holds a batch back
 * to back: what the pool's workers run (cpu-worker.ts), and what runs in-thread where no
 * compiled worker exists (tests from TypeScript sources). Same results either way.
 */

export interface CpuJob {
  readonly op: 'hash' | 'verify' | 'stream';
  readonly lengths: readonly number[];
  /** verify: 0 raw, 1 zstd per item. */
  readonly encodings?: readonly number[];
  /** verify: decoding stops past this many bytes (a zstd bomb costs nothing). */
  readonly maxRaw?: number;
  /** verify: send the bytes zstd decoded back, back to back in `raw` (raw items have theirs). */
  readonly keepRaw?: boolean;
  /** stream: which running SHA-256 the bytes continue (one item, in the order sent). */
  readonly stream?: number;
  /** stream: the last bytes; the digest comes back and the stream is gone. */
  readonly end?: boolean;
}

export interface CpuTask extends CpuJob {
  readonly bytes: Uint8Array;
  /** Where each item starts in `bytes`; without it the items lie back to back from 0. */
  readonly offsets?: readonly number[] | undefined;
}

export interface CpuResult {
  readonly digests: string[];
  readonly rawLengths: number[];
  /** Per item: why it could not be decoded, or null. */
  readonly errors: (string | null)[];
  readonly raw?: Uint8Array;
}

export async function runCpuTask(t: CpuTask): Promise<CpuResult> {
  // Before any await: a worker runs the updates of one stream in the order they came.
  if (t.op === 'stream') return streamStep(t);
  const digests: string[] = [];
  const rawLengths: number[] = [];
  const errors: (string | null)[] = [];
  const raws: Uint8Array[] = [];
  for (const [i, item] of items(t).entries()) {
    let raw: Uint8Array = item;
    const decoded = t.op === 'verify' && t.encodings?.[i] === 1;
    if (decoded) {
      try {
        raw = await zstdUnframe(item, t.maxRaw ?? 2 ** 24);
      } catch (err) {
        digests.push('');
        rawLengths.push(0);
        errors.push(`undecodable: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
    }
    digests.push(createHash('sha256').update(raw).digest('hex'));
    rawLengths.push(raw.length);
    errors.push(null);
    if (t.keepRaw && decoded) raws.push(raw);
  }
  if (!t.keepRaw) return { digests, rawLengths, errors };
  return { digests, rawLengths, errors, raw: backToBack(raws) };
}

/** The task's items: back to back in `bytes`, or at `offsets` in it. */
function items(t: CpuTask): Buffer[] {
  const bytes = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  let offset = 0;
  return t.lengths.map((n, i) => {
    const at = t.offsets ? (t.offsets[i] as number) : offset;
    offset = at + n;
    return bytes.subarray(at, at + n);
  });
}

/** The running hashes of this thread's streams (one worker holds each stream, see cpu-pool.ts). */
const streams = new Map<number, Hash>();

function streamStep(t: CpuTask): CpuResult {
  const id = t.stream as number;
  let h = streams.get(id);
  if (!h) {
    h = createHash('sha256');
    streams.set(id, h);
  }
  for (const item of items(t)) h.update(item);
  if (!t.end) return { digests: [], rawLengths: [], errors: [] };
  streams.delete(id);
  return { digests: [h.digest('hex')], rawLengths: [], errors: [] };
}

/** A buffer of its own (never a slice of Node's shared pool), so it can be transferred. */
export function backToBack(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

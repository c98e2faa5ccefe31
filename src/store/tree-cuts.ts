// Where a tree's content stream is cut whatever the chunker finds (store-format §3.7).
import type { Entry } from '../core/manifest.js';

/**
 * Offsets in the content stream where a segment ends: before and after every file of at
 * least `min` bytes, so such a file starts and ends its own chunks and a change to it never
 * moves its neighbours' cut points. A run of smaller files between them is one segment, so
 * small files still share chunks. Offsets are increasing, none at 0 or at the stream's end.
 */
export function segmentEnds(entries: readonly Entry[], min: number): number[] {
  const ends: number[] = [];
  let at = 0;
  let lastBig = false;
  for (const e of entries) {
    if (e.type !== 'file' || e.size === 0) continue;
    const big = e.size >= min;
    if ((big || lastBig) && at > 0 && ends.at(-1) !== at) ends.push(at);
    at += e.size;
    lastBig = big;
  }
  return ends;
}

/**
 * `pieces` cut at `ends` (stream offsets): each part says whether a segment ends with it,
 * and keeps the rest of its piece's fields. A pooled block's lease gets one more holder for
 * each part past the first, all taken before the first part is yielded, so each part is
 * released on its own (source.ts): a block cut in three must not go back to the pool once
 * the first part is done with.
 */
export async function* atSegmentEnds<P extends { readonly bytes: Buffer; readonly lease?: Retained }>(
  pieces: AsyncIterable<P>,
  ends: readonly number[],
): AsyncGenerator<P & { readonly endsSegment: boolean }> {
  let at = 0;
  let next = 0;
  for await (const piece of pieces) {
    const parts: { bytes: Buffer; endsSegment: boolean }[] = [];
    let rest = piece.bytes;
    while (rest.length > 0) {
      const end = ends[next] ?? Number.POSITIVE_INFINITY;
      const bytes = rest.subarray(0, Math.min(rest.length, end - at));
      rest = rest.subarray(bytes.length);
      at += bytes.length;
      const endsSegment = at === end;
      if (endsSegment) next++;
      parts.push({ bytes, endsSegment });
    }
    // Every hold taken before any part is released: a lease that reached none is gone.
    for (let k = 1; k < parts.length; k++) piece.lease?.retain();
    for (const part of parts) yield { ...piece, ...part };
  }
}

interface Retained {
  retain(): void;
}

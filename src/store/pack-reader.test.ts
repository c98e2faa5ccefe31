import { describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { RECORD_HEADER_SIZE } from './pack-file.js';
import type { ChunkRow } from './pack-index.js';
import { runsOf } from './pack-reader.js';

function row(pack: number, offset: number, length: number): { digest: Digest; row: ChunkRow } {
  const digest = `${pack}-${offset}`.padEnd(64, '0') as Digest;
  return {
    digest,
    row: { digest: Buffer.alloc(32), pack, offset, length, rawLength: length, encoding: 0, touchedAt: 0 },
  };
}

describe('runsOf', () => {
  const size = (n: number) => RECORD_HEADER_SIZE + n;

  it('joins records that follow each other in one pack, and only those', () => {
    const rows = [
      row(1, 16, 100),
      row(1, 16 + size(100), 50), // follows
      row(1, 10_000, 10), // gap
      row(2, 10_000 + size(10), 10), // other pack
      row(1, 16, 100), // asked again: goes back
    ];
    expect(runsOf(rows).map((r) => [r.pack, r.offset, r.bytes, r.rows.length])).toEqual([
      [1, 16, size(100) + size(50), 2],
      [1, 10_000, size(10), 1],
      [2, 10_000 + size(10), size(10), 1],
      [1, 16, size(100), 1],
    ]);
  });

  it('cuts a run at its byte budget, but never below one record', () => {
    const rows = [row(1, 16, 1000), row(1, 16 + size(1000), 1000), row(1, 16 + 2 * size(1000), 5000)];
    expect(runsOf(rows, 2 * size(1000)).map((r) => r.rows.length)).toEqual([2, 1]);
    expect(runsOf(rows, 10).map((r) => r.rows.length)).toEqual([1, 1, 1]);
  });
});

import type { Digest } from '../core/manifest.js';
import type { BufferPool } from './buffer-pool.js';
import type { StoredChunk } from './chunk-store.js';
import { encodingName, isInvalid, parseRecordHeader, RECORD_HEADER_SIZE, recordSize } from './pack-file.js';
import type { ChunkRow } from './pack-index.js';
import { corruptChunk } from './pack-verify.js';

/**
 * Reading many stored records for sending on (the pack store's readStored): records that lie
 * back to back in one pack, as an ingest or a transfer wrote them, are read with one pread
 * of up to RUN_BYTES, with two runs read ahead, instead of a pread per chunk (which cost
 * ~150 us of event-loop time each here, most of a sender's time). Each record's header is
 * checked (marker, CRC, the digest it holds, lengths); payloads are views of the run buffer.
 */

/** One pread covers at most this much (or one record, if larger). */
export const RUN_BYTES = 4 * 2 ** 20;
/** Runs read ahead of the one being sent. */
const READ_AHEAD = 2;

export interface Run {
  readonly pack: number;
  readonly offset: number;
  readonly bytes: number;
  readonly rows: readonly { readonly digest: Digest; readonly row: ChunkRow }[];
}

/** Consecutive rows that lie back to back in one pack, in the order asked. Pure. */
export function runsOf(rows: readonly { digest: Digest; row: ChunkRow }[], maxBytes = RUN_BYTES): Run[] {
  const runs: Run[] = [];
  let cur:
    | { pack: number; offset: number; bytes: number; rows: { digest: Digest; row: ChunkRow }[] }
    | undefined;
  for (const r of rows) {
    const size = recordSize(r.row.length);
    const follows = cur && cur.pack === r.row.pack && cur.offset + cur.bytes === r.row.offset;
    if (cur && follows && cur.bytes + size <= maxBytes) {
      cur.rows.push(r);
      cur.bytes += size;
    } else {
      cur = { pack: r.row.pack, offset: r.row.offset, bytes: size, rows: [r] };
      runs.push(cur);
    }
  }
  return runs;
}

/**
 * Reads `length` bytes of pack `pack` at `offset` (into `into` when given), fewer only at its
 * end: a pread on a pack file, a ranged GET of a segment object.
 */
export type ReadAt = (pack: number, offset: number, length: number, into?: Buffer) => Promise<Buffer>;

/**
 * The chunks of `runs` in order, reading up to READ_AHEAD runs ahead. With a pool, runs are
 * read into its blocks and each block goes back once the consumer asks past the run's last
 * chunk: payloads are lent (ChunkReader.readStored's `lend`).
 */
export async function* readRuns(
  runs: readonly Run[],
  readAt: ReadAt,
  pool?: BufferPool,
): AsyncGenerator<StoredChunk> {
  const ahead: Promise<ReadRun>[] = [];
  let next = 0;
  const fill = () => {
    while (ahead.length < READ_AHEAD && next < runs.length) {
      const run = runs[next++] as Run;
      const p = readRun(readAt, run, pool);
      p.catch(() => {}); // awaited in order below; a failure surfaces there
      ahead.push(p);
    }
  };
  try {
    for (fill(); ahead.length > 0; fill()) {
      const { buf, chunks } = await (ahead.shift() as Promise<ReadRun>);
      fill();
      yield* chunks;
      pool?.give(buf);
    }
  } finally {
    // Runs read ahead were never lent: their blocks go back. One cut short mid-run may
    // still be referenced by the consumer, so it is left to the collector.
    for (const r of await Promise.allSettled(ahead)) if (r.status === 'fulfilled') pool?.give(r.value.buf);
  }
}

interface ReadRun {
  readonly buf: Buffer;
  readonly chunks: StoredChunk[];
}

async function readRun(readAt: ReadAt, run: Run, pool?: BufferPool): Promise<ReadRun> {
  const buf = await readAt(run.pack, run.offset, run.bytes, pool?.take(run.bytes));
  const chunks = run.rows.map(({ digest, row }) => {
    const at = row.offset - run.offset;
    if (at + recordSize(row.length) > buf.length)
      throw corruptChunk(digest, row, 'record cut short by the end of the pack');
    const header = parseRecordHeader(buf.subarray(at, at + RECORD_HEADER_SIZE));
    if (isInvalid(header)) throw corruptChunk(digest, row, header.invalid);
    if (!header.digest.equals(row.digest)) {
      throw corruptChunk(digest, row, 'the record holds another chunk', header.digest.toString('hex'));
    }
    const encoding = encodingName(row.encoding);
    if (!encoding || header.encoding !== row.encoding || header.payloadLength !== row.length) {
      throw corruptChunk(digest, row, 'the record differs from the index');
    }
    const payload = buf.subarray(at + RECORD_HEADER_SIZE, at + recordSize(row.length));
    return { digest, encoded: { encoding, payload }, rawLength: header.rawLength };
  });
  return { buf, chunks };
}

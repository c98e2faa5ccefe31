import type { WriteItem } from './chunk-puts.js';
import {
  encodePackHeader,
  encodeRecordHeader,
  encodingCode,
  PACK_HEADER_SIZE,
  recordSize,
} from './pack-file.js';
import type { ChunkRow } from './pack-index.js';

/**
 * A shared store's segment as bytes: a sealed pack (store-format.md §5.1, §5.2, §5.8), the
 * header with the segment id as its pack id, then the records back to back.
 */

/** A sealed pack-format segment of `items`, and the rows that will point into it. */
export function segmentOf(
  id: number,
  items: readonly WriteItem[],
  now: number,
): { parts: Buffer[]; rows: ChunkRow[] } {
  const parts: Buffer[] = [encodePackHeader(id)];
  const rows: ChunkRow[] = [];
  let offset = PACK_HEADER_SIZE;
  for (const it of items) {
    const digest = Buffer.from(it.digest, 'hex');
    const encoding = encodingCode(it.chunk.encoding);
    const length = it.chunk.payload.length;
    parts.push(
      encodeRecordHeader({ digest, encoding, rawLength: it.rawLength, payloadLength: length }),
      it.chunk.payload,
    );
    rows.push({ digest, pack: id, offset, length, rawLength: it.rawLength, encoding, touchedAt: now });
    offset += recordSize(length);
  }
  return { parts, rows };
}

import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/manifest.js';
import {
  encodePackHeader,
  encodingName,
  isInvalid,
  PACK_HEADER_SIZE,
  parsePackHeader,
  preadFully,
  recordSize,
  scanRecords,
} from './pack-file.js';
import type { PackIndex, RecordLocation } from './pack-index.js';
import { type Verified, verifyMany } from './pack-verify.js';
import type { StorePaths } from './paths.js';

/**
 * What opening a pack store does before it serves anything: bring the index and the
 * unsealed packs back into agreement after a crash. Sealed packs are not read (their
 * records were all committed before sealing), so opening costs O(unsealed tail).
 *
 * - An unsealed pack longer than its committed size: the tail is what an interrupted
 *   batch left. Complete records whose digest verifies are indexed; the pack is truncated
 *   at the first record that is torn or does not verify.
 * - An unsealed pack shorter than its committed size (committed bytes lost, which fsync
 *   should prevent): its rows are dropped and rebuilt by scanning the whole pack.
 * - A pack file without a row (its row lost in a power cut, or a compacted pack whose
 *   unlink did not happen): adopted as unsealed and scanned; records already indexed
 *   elsewhere stay where the index says, so a compacted pack ends with no live bytes.
 * - A row whose file is missing or has a bad header: the pack and its rows are dropped.
 */

export interface RecoveryReport {
  packsScanned: number;
  recordsIndexed: number;
  bytesTruncated: number;
  packsAdopted: number;
  packsDropped: number;
}

const PACK_NAME = /^(\d+)\.pack$/;

export async function recoverPacks(
  paths: StorePaths,
  index: PackIndex,
  now: number,
): Promise<RecoveryReport> {
  const report: RecoveryReport = {
    packsScanned: 0,
    recordsIndexed: 0,
    bytesTruncated: 0,
    packsAdopted: 0,
    packsDropped: 0,
  };
  const known = new Set(index.packs().map((p) => p.id));
  for (const name of await readdir(paths.packsDir)) {
    const m = PACK_NAME.exec(name);
    if (!m || paths.pack(Number(m[1])) !== join(paths.packsDir, name)) continue;
    const id = Number(m[1]);
    if (known.has(id)) continue;
    index.addPack(id, PACK_HEADER_SIZE);
    report.packsAdopted++;
  }
  for (const p of index.packs()) {
    if (!p.sealed) await recoverPack(paths, index, p.id, p.size, now, report);
  }
  return report;
}

async function recoverPack(
  paths: StorePaths,
  index: PackIndex,
  id: number,
  committed: number,
  now: number,
  report: RecoveryReport,
): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(paths.pack(id), 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    index.dropPack(id);
    report.packsDropped++;
    return;
  }
  try {
    const { size } = await fh.stat();
    const header = parsePackHeader(await preadFully(fh, PACK_HEADER_SIZE, 0));
    if (isInvalid(header) || header.id !== id) {
      if (committed > PACK_HEADER_SIZE) {
        index.dropPack(id);
        report.packsDropped++;
        return;
      }
      // Created but its header never reached the disk: start it again.
      await fh.truncate(0);
      await fh.write(encodePackHeader(id), 0, PACK_HEADER_SIZE, 0);
      await fh.datasync();
      report.bytesTruncated += size;
      return;
    }
    let start = committed;
    if (size < committed) {
      index.resetPack(id, PACK_HEADER_SIZE);
      start = PACK_HEADER_SIZE;
    }
    if (size === start) return;
    report.packsScanned++;
    const rows: RecordLocation[] = [];
    let end = start;
    for await (const rec of scanRecords(fh, start, size)) {
      const { digest, encoding, rawLength, payloadLength } = rec.header;
      const hex = digest.toString('hex') as Digest;
      const chunk = { encoding: encodingName(encoding) ?? 'raw', payload: rec.payload };
      const [v] = (await verifyMany([{ digest: hex, chunk, rawLength }])) as [Verified];
      if (!v.ok) break;
      rows.push({ digest, offset: rec.offset, length: payloadLength, rawLength, encoding });
      end = rec.offset + recordSize(payloadLength);
    }
    report.recordsIndexed += index.commit(id, end, rows, now);
    if (end < size) {
      await fh.truncate(end);
      await fh.datasync();
      report.bytesTruncated += size - end;
    }
  } finally {
    await fh.close();
  }
}

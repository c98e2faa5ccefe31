import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

/**
 * How two images differ, block by block: in place (the block at the same offset differs)
 * and in content (v2's block is in no block of v1, so no delta can take it from v1). The
 * second is the true change of an image whose content sits in whole blocks of `block` bytes
 * (an ext4 image's own block size, a tar's 512-byte records).
 */
export async function compareBlocks(
  a: string,
  b: string,
  block: number,
): Promise<{ changedBlocks: number; newBlocks: number }> {
  const blockKey = (buf: Buffer, off: number) =>
    createHash('sha1')
      .update(buf.subarray(off, off + block))
      .digest('base64');
  const seen = new Set<string>();
  const fa = await open(a, 'r');
  const fb = await open(b, 'r');
  try {
    const size = Math.max((await fa.stat()).size, (await fb.stat()).size);
    const step = 4 * 1024 * 1024;
    const ba = Buffer.alloc(step);
    const bb = Buffer.alloc(step);
    for (let pos = 0; pos < size; pos += step) {
      const ra = (await fa.read(ba, 0, step, pos)).bytesRead;
      ba.fill(0, ra);
      for (let off = 0; off < ra; off += block) seen.add(blockKey(ba, off));
    }
    let changedBlocks = 0;
    let newBlocks = 0;
    for (let pos = 0; pos < size; pos += step) {
      const ra = (await fa.read(ba, 0, step, pos)).bytesRead;
      const rb = (await fb.read(bb, 0, step, pos)).bytesRead;
      ba.fill(0, ra);
      bb.fill(0, rb);
      for (let off = 0; off < rb; off += block) {
        if (ba.compare(bb, off, off + block, off, off + block) !== 0) changedBlocks++;
        if (!seen.has(blockKey(bb, off))) newBlocks++;
      }
    }
    return { changedBlocks, newBlocks };
  } finally {
    await fa.close();
    await fb.close();
  }
}

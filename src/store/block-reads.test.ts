import { randomFillSync } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillBlocks, readBlocks } from './block-reads.js';
import { BufferPool } from './buffer-pool.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ingot-blocks-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const BLOCK = 64 * 1024;

describe('readBlocks', () => {
  it('reads a file that is not a multiple of the block size, whole, in shared blocks', async () => {
    const data = randomFillSync(Buffer.alloc(3 * BLOCK + 1234));
    const path = join(work, 'odd.bin');
    await writeFile(path, data);
    const pool = new BufferPool(BLOCK, 4, { shared: true });
    const got: Buffer[] = [];
    for await (const { bytes, lease } of readBlocks(path, data.length, pool)) {
      expect(bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
      got.push(Buffer.from(bytes));
      lease.release();
    }
    expect(got.map((b) => b.length)).toEqual([BLOCK, BLOCK, BLOCK, 1234]);
    expect(Buffer.concat(got).equals(data)).toBe(true);
    // Released blocks came back (the read ahead means at most two were out at once).
    expect(pool.idleBlocks).toBeGreaterThan(0);
    expect(pool.idleBlocks).toBeLessThanOrEqual(2);
  });

  it('gives a block back only when its last holder releases it', async () => {
    const path = join(work, 'one.bin');
    await writeFile(path, randomFillSync(Buffer.alloc(BLOCK)));
    const pool = new BufferPool(BLOCK, 4, { shared: true });
    for await (const { lease } of readBlocks(path, BLOCK, pool)) {
      lease.retain();
      lease.release();
      expect(pool.idleBlocks).toBe(0);
      lease.release();
      expect(pool.idleBlocks).toBe(1);
    }
  });

  it('reads an empty file as no blocks', async () => {
    const path = join(work, 'empty.bin');
    await writeFile(path, Buffer.alloc(0));
    const blocks = [];
    for await (const b of readBlocks(path, 0)) blocks.push(b);
    expect(blocks).toEqual([]);
  });

  it('says the file changed when it shrinks while being read', async () => {
    const path = join(work, 'shrinks.bin');
    await writeFile(path, randomFillSync(Buffer.alloc(4 * BLOCK)));
    const pool = new BufferPool(BLOCK, 4, { shared: true });
    const read = async () => {
      let n = 0;
      for await (const { bytes, lease } of readBlocks(path, 4 * BLOCK, pool)) {
        n += bytes.length;
        lease.release();
        if (n === BLOCK) await truncate(path, BLOCK + 100);
      }
    };
    await expect(read()).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/changed while reading \(262144 bytes, then it ended at \d+\)/),
    });
  });

  it('says where a file ended that is shorter than the size it was read for', async () => {
    const path = join(work, 'short.bin');
    await writeFile(path, randomFillSync(Buffer.alloc(BLOCK + 100)));
    const read = async () => {
      for await (const { lease } of readBlocks(path, 4 * BLOCK, new BufferPool(BLOCK, 4, { shared: true })))
        lease.release();
    };
    await expect(read()).rejects.toThrow(/changed while reading \(262144 bytes, then it ended at 65636\)/);
  });

  it('says the file changed when it grows past the size it had', async () => {
    const path = join(work, 'grows.bin');
    await writeFile(path, randomFillSync(Buffer.alloc(BLOCK + 10)));
    const read = async () => {
      for await (const { lease } of readBlocks(path, BLOCK, new BufferPool(BLOCK, 2, { shared: true })))
        lease.release();
    };
    await expect(read()).rejects.toThrow(/changed while reading \(65536 bytes, then more\)/);
  });

  it('refuses a path it cannot open with PATH_NOT_FOUND', async () => {
    const read = async () => {
      for await (const _ of readBlocks(join(work, 'absent.bin'), 1)) void _;
    };
    await expect(read()).rejects.toMatchObject({ code: 'PATH_NOT_FOUND' });
  });
});

describe('fillBlocks', () => {
  it('packs pieces of any size into whole shared blocks, the last one short', async () => {
    const data = randomFillSync(Buffer.alloc(2 * BLOCK + 777));
    async function* pieces() {
      for (let at = 0, n = 1; at < data.length; at += n, n = (n * 7 + 13) % 50_000 || 1) {
        yield data.subarray(at, Math.min(at + n, data.length));
      }
    }
    const pool = new BufferPool(BLOCK, 4, { shared: true });
    const sizes: number[] = [];
    const got: Buffer[] = [];
    for await (const { bytes, lease } of fillBlocks(pieces(), pool)) {
      expect(bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
      sizes.push(bytes.length);
      got.push(Buffer.from(bytes));
      lease.release();
    }
    expect(sizes).toEqual([BLOCK, BLOCK, 777]);
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });
});

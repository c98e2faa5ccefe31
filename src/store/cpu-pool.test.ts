import { createHash, randomBytes } from 'node:crypto';
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cpuPool } from './cpu-pool.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('cpuPool', () => {
  it('hashes a batch larger than a slot in pieces, answering in the order asked', async () => {
    const chunks = [randomBytes(1_500_000), randomBytes(10), randomBytes(1_500_000), randomBytes(3_000_000)];
    expect(await cpuPool().hash(chunks)).toEqual(chunks.map(sha));
    expect(await cpuPool().hash([])).toEqual([]);
  });

  it('verifies raw and zstd chunks, names the undecodable one, and stops at the output bound', async () => {
    const text = Buffer.alloc(200_000, 'gold image ');
    const z = zstdCompressSync(text);
    const raw = randomBytes(5000);
    const [a, b, c, d] = await cpuPool().verify(
      [
        { encoding: 'zstd', payload: z },
        { encoding: 'raw', payload: raw },
        { encoding: 'zstd', payload: Buffer.concat([z.subarray(0, 8), randomBytes(40)]) },
        { encoding: 'zstd', payload: zstdCompressSync(Buffer.alloc(300_000)) },
      ],
      { maxRaw: 250_000, keepRaw: true },
    );
    expect(a).toMatchObject({ digest: sha(text), rawLength: text.length });
    expect(a?.error === undefined && a?.raw?.equals(text)).toBe(true);
    expect(b).toMatchObject({ digest: sha(raw), rawLength: 5000 });
    expect(c?.error).toMatch(/undecodable/);
    expect(d?.error).toMatch(/undecodable/);
  });

  it('hashes a stream given in pieces, larger than a slot too, in the order given', async () => {
    const parts = [randomBytes(3_000_000), randomBytes(10), Buffer.alloc(0), randomBytes(4 * 2 ** 20 + 1)];
    const h = cpuPool().sha256Stream();
    const other = cpuPool().sha256Stream();
    const pending = parts.map((p) => h.update(Buffer.from(p)));
    await other.update(parts[1] as Buffer);
    await Promise.all(pending);
    expect((await h.digest()).toString('hex')).toBe(sha(Buffer.concat(parts)));
    expect((await other.digest()).toString('hex')).toBe(sha(parts[1] as Buffer));
    expect((await cpuPool().sha256Stream().digest()).toString('hex')).toBe(sha(Buffer.alloc(0)));
  });

  it('hashes a piece of a shared block as given, and the block may be reused once update returns', async () => {
    // The built pool runs on worker threads, where a shared block is seen whole.
    const built = (await import(new URL('../../dist/store/cpu-pool.js', import.meta.url).href)) as {
      cpuPool: typeof cpuPool;
    };
    for (const pool of [cpuPool(), built.cpuPool()]) await hashesSharedPiece(pool);
  });
});

async function hashesSharedPiece(pool: ReturnType<typeof cpuPool>): Promise<void> {
  const block = Buffer.from(new SharedArrayBuffer(1 << 20));
  const first = randomBytes(block.length);
  first.copy(block);
  const h = pool.sha256Stream();
  const done = h.update(block.subarray(100, 200_100));
  block.fill(0);
  await done;
  expect((await h.digest()).toString('hex')).toBe(sha(first.subarray(100, 200_100)));
}

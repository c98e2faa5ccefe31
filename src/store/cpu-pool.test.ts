import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { EncodedChunk } from './chunk-store.js';
import { decodeChunk } from './compression.js';
import { type CpuPool, cpuPool } from './cpu-pool.js';
import { encodeDelta } from './delta-codec.js';

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
    for (const pool of await bothPools()) await hashesSharedPiece(pool);
  });

  it('hashes lent pieces of shared blocks where they lie, in order, beside copied ones', async () => {
    for (const pool of await bothPools()) await hashesLentPieces(pool);
  });

  it('encodes chunks as the store keeps them, in a shared block or not: zstd where it pays', async () => {
    for (const pool of await bothPools()) {
      const block = Buffer.from(new SharedArrayBuffer(3 * 2 ** 20));
      const text = Buffer.from('gold image '.repeat(20_000));
      text.copy(block, 0);
      randomFillSync(block, text.length, 100_000);
      const chunks = [
        block.subarray(0, text.length),
        block.subarray(text.length, text.length + 100_000),
        Buffer.alloc(30, 'x'),
        Buffer.alloc(2_500_000, 'large '),
      ];
      const encoded = await pool.encode(chunks);
      expect(encoded.map((e) => e.encoding)).toEqual(['zstd', 'raw', 'raw', 'zstd']);
      expect(encoded[1]?.payload.buffer).toBe(block.buffer);
      for (const [i, e] of encoded.entries()) {
        expect((await decodeChunk(e)).equals(chunks[i] as Buffer)).toBe(true);
      }
      expect(encoded[0]?.payload.length).toBeLessThan(text.length / 20);
    }
  });
});

/** The in-thread pool, and the built one on worker threads (where a shared block is seen whole). */
async function bothPools(): Promise<CpuPool[]> {
  const built = (await import(new URL('../../dist/store/cpu-pool.js', import.meta.url).href)) as {
    cpuPool: typeof cpuPool;
  };
  return [cpuPool(), built.cpuPool()];
}

/** A 64 KiB random chunk, and a copy with one 4 KiB block rewritten. */
function editedPair(): { target: Buffer; reference: Buffer } {
  const reference = randomBytes(65_536);
  const target = Buffer.from(reference);
  randomFillSync(target, 20_480, 4096);
  return { target, reference };
}

describe('cpuPool deltas', () => {
  it('makes a small delta of an edited chunk, and undelta gives back the target', async () => {
    for (const pool of await bothPools()) {
      const pair = editedPair();
      const [made] = await pool.delta([pair]);
      expect(made?.patch).toBe(false);
      const delta = made?.payload as Buffer;
      expect(delta.length).toBeLessThan(4096 + 512);
      const [v] = await pool.undelta([{ delta, reference: pair.reference }], {
        maxRaw: 65_536,
      });
      expect(v).toMatchObject({ digest: sha(pair.target), rawLength: 65_536 });
      expect(v?.error === undefined && v?.raw?.equals(pair.target)).toBe(true);
    }
  });

  it('decodes stored zstd parts itself first, both ways: the same delta and the same chunk as from plain bytes', async () => {
    for (const pool of await bothPools()) {
      // Text-like bytes, so zstd frames them small; a reference in two parts, one raw.
      const words = Buffer.from('gold image chunk store delta '.repeat(2300)).subarray(0, 65_536);
      const [left, right] = [words.subarray(0, 40_000), randomBytes(25_536)];
      const reference = Buffer.concat([left, right]);
      const target = Buffer.from(reference);
      target.write('a few bytes rewritten in place', 30_000);
      const z = (b: Buffer) => zstdCompressSync(b);
      const stored = {
        target: z(target),
        reference: [z(left), right],
        aligned: true,
        zstd: [true, true, false],
      };
      const plain = { target, reference, aligned: true };
      const [fromStored, fromPlain] = await pool.delta([stored, plain]);
      expect(fromStored).toBeDefined();
      expect(fromStored?.payload.equals(fromPlain?.payload as Buffer)).toBe(true);
      // And back, against the reference as stored (the delta itself is never decoded first).
      const delta = fromStored?.payload as Buffer;
      const patch = fromStored?.patch ?? false;
      const [v, w] = await pool.undelta(
        [
          { delta, reference: [z(left), right], patch, zstd: [false, true, false] },
          { delta, reference, patch },
        ],
        { maxRaw: 65_536, store: true },
      );
      expect(v).toMatchObject({ digest: sha(target), rawLength: 65_536 });
      expect(w).toMatchObject({ digest: sha(target), rawLength: 65_536 });
    }
  });

  it('answers undelta with store in the form the store keeps: zstd where it pays, raw where not', async () => {
    for (const pool of await bothPools()) {
      const random = editedPair();
      const text = {
        reference: Buffer.alloc(65_536, 'gold image v1 '),
        target: Buffer.alloc(65_536, 'gold image v2 '),
      };
      const [a, b] = await pool.delta([random, text]);
      const back = await pool.undelta(
        [
          { delta: a?.payload as Buffer, reference: random.reference },
          { delta: randomBytes(300), reference: random.reference },
          { delta: b?.payload as Buffer, reference: text.reference },
        ],
        { maxRaw: 65_536, store: true },
      );
      const [r, junk, t] = back;
      expect(r).toMatchObject({ digest: sha(random.target), rawLength: 65_536, stored: { encoding: 'raw' } });
      expect(r && r.error === undefined && r.stored?.payload.equals(random.target)).toBe(true);
      expect(junk?.error).toBeTruthy();
      expect(t).toMatchObject({ digest: sha(text.target), rawLength: 65_536, stored: { encoding: 'zstd' } });
      const z = t?.error === undefined ? t?.stored : undefined;
      expect(await decodeChunk(z as EncodedChunk, 65_536)).toEqual(text.target);
    }
  });

  it('patches against signatures alone, beside a zstd delta in one batch, and applies both', async () => {
    for (const pool of await bothPools()) {
      const pair = editedPair();
      const [signatures] = await pool.sign([pair.reference]);
      expect(signatures?.length).toBe(32 * 12);
      const zstd = editedPair();
      const aligned = editedPair();
      const made = await pool.delta([
        { target: pair.target, reference: signatures as Buffer, patch: true },
        zstd,
        { ...aligned, aligned: true },
      ]);
      expect(made.map((m) => m?.patch)).toEqual([true, false, true]);
      const [patch, delta, alignedPatch] = made.map((m) => m?.payload as Buffer);
      expect(patch?.length).toBeLessThan(4096 + 64);
      expect(alignedPatch?.length).toBeLessThan(4096 + 64);
      const back = await pool.undelta(
        [
          { delta: patch as Buffer, reference: pair.reference, patch: true },
          { delta: delta as Buffer, reference: zstd.reference },
        ],
        { maxRaw: 65_536 },
      );
      expect(back.map((v) => ('digest' in v ? v.digest : v.error))).toEqual([
        sha(pair.target),
        sha(zstd.target),
      ]);
      // A patch applied to another reference gives other bytes, never an error-free match.
      const [other] = await pool.undelta(
        [{ delta: patch as Buffer, reference: randomBytes(65_536), patch: true }],
        {
          maxRaw: 65_536,
        },
      );
      expect(other && 'digest' in other ? other.digest : undefined).not.toBe(sha(pair.target));
    }
  });

  it('gives no delta for a target unlike its reference', async () => {
    for (const pool of await bothPools()) {
      const unrelated = { target: randomBytes(65_536), reference: randomBytes(65_536) };
      const empty = { target: Buffer.alloc(0), reference: randomBytes(10) };
      expect(await pool.delta([unrelated, empty])).toEqual([undefined, undefined]);
    }
  });

  it('never gives the target from another reference, and refuses a delta bomb before decoding', async () => {
    const pair = editedPair();
    const delta = encodeDelta(pair.target, pair.reference);
    const bomb = encodeDelta(Buffer.alloc(16 * 2 ** 20), pair.reference);
    for (const pool of await bothPools()) {
      const [wrong, bombed, junk] = await pool.undelta(
        [
          { delta, reference: randomBytes(65_536) },
          { delta: bomb, reference: pair.reference },
          { delta: Buffer.from('not a zstd frame'), reference: pair.reference },
        ],
        { maxRaw: 65_536 },
      );
      expect(wrong?.error ?? wrong?.digest).not.toBe(sha(pair.target));
      // Refused from its block headers: "may decode to", not a decoder's output limit.
      expect(bombed?.error).toMatch(/undecodable: .*may decode to/);
      expect(junk?.error).toMatch(/undecodable: .*malformed/);
    }
  });

  it('runs a batch of pairs larger than a slot in pieces, answering in the order asked', async () => {
    const pairs = Array.from({ length: 24 }, editedPair);
    pairs.splice(5, 0, { target: randomBytes(1_500_000), reference: randomBytes(1_500_000) });
    for (const pool of await bothPools()) {
      const got = await pool.delta(pairs);
      expect(got.map((d) => d === undefined)).toEqual(pairs.map((_, i) => i === 5));
      const items = pairs.flatMap((p, i) => {
        const made = got[i];
        return made ? [{ delta: made.payload, reference: p.reference }] : [];
      });
      const back = await pool.undelta(items, { maxRaw: 65_536 });
      expect(back.map((v) => v.error ?? v.digest)).toEqual(
        pairs.filter((_, i) => i !== 5).map((p) => sha(p.target)),
      );
    }
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

async function hashesLentPieces(pool: ReturnType<typeof cpuPool>): Promise<void> {
  const blocks = [1 << 20, 3 << 20].map((n) => randomFillSync(Buffer.from(new SharedArrayBuffer(n))));
  const [small, large] = blocks as [Buffer, Buffer];
  const plain = randomBytes(5000);
  const expected = sha(Buffer.concat([small.subarray(7, 900_000), plain, large, small.subarray(900_000)]));
  const h = pool.sha256Stream();
  const pending = [
    h.updateShared(small.subarray(7, 900_000)),
    h.update(plain),
    h.updateShared(large),
    h.updateShared(small.subarray(900_000)),
  ];
  plain.fill(1); // copied by update: free to change at once
  await Promise.all(pending);
  expect((await h.digest()).toString('hex')).toBe(expected);
}

import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import { decodeChunk, encodeChunk, looksIncompressible } from './compression.js';

const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(2000));

describe('compression', () => {
  it('compresses compressible data with zstd and round-trips', async () => {
    const e = await encodeChunk(text);
    expect(e.encoding).toBe('zstd');
    expect(e.payload.length).toBeLessThan(text.length / 10);
    expect((await decodeChunk(e, text.length)).equals(text)).toBe(true);
  });

  it('stores random data raw, skipping zstd by the entropy check', async () => {
    const r = randomFillSync(Buffer.alloc(65536));
    expect(looksIncompressible(r)).toBe(true);
    expect(looksIncompressible(text)).toBe(false);
    const e = await encodeChunk(r);
    expect(e.encoding).toBe('raw');
    expect(e.payload).toBe(r);
    expect(await decodeChunk(e)).toBe(r);
  });

  it('stores raw when zstd saves less than 1/16', async () => {
    // Mostly random with a compressible tail: entropy check passes, zstd saves < 1/16.
    const r = randomFillSync(Buffer.alloc(16384));
    const mixed = Buffer.concat([r, Buffer.from('ab'.repeat(400))]);
    expect((await encodeChunk(mixed)).encoding).toBe('raw');
    const tiny = Buffer.from('abc');
    expect((await encodeChunk(tiny)).encoding).toBe('raw');
  });

  it('reports bad payloads, unknown encodings and wrong lengths as CORRUPT', async () => {
    const e = await encodeChunk(text);
    const cut = { encoding: 'zstd' as const, payload: e.payload.subarray(0, e.payload.length - 5) };
    await expect(decodeChunk(cut)).rejects.toMatchObject({ code: 'CORRUPT' });
    await expect(decodeChunk({ encoding: 'lz4' as never, payload: text })).rejects.toBeInstanceOf(IngotError);
    await expect(decodeChunk(e, text.length + 1)).rejects.toMatchObject({
      code: 'CORRUPT',
      details: { expected: text.length + 1, found: text.length },
    });
  });

  it('runs several chunks in parallel', async () => {
    const inputs = Array.from({ length: 16 }, (_, i) => Buffer.from(`chunk ${i} `.repeat(5000)));
    const out = await Promise.all(inputs.map((b) => encodeChunk(b)));
    const back = await Promise.all(out.map((e) => decodeChunk(e)));
    for (const [i, b] of back.entries()) expect(b.equals(inputs[i]!)).toBe(true);
  });
});

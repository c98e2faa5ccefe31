import { randomBytes } from 'node:crypto';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { withoutEmptyTail, zstdFrame, zstdUnframe } from './zstd-lanes.js';

describe('zstd lanes', () => {
  it('gives one independent frame per chunk, many at once', async () => {
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(70_000 + i, `chunk ${i} `));
    const frames = await Promise.all(chunks.map((c) => zstdFrame(c)));
    expect(frames.every((f, i) => zstdDecompressSync(f).equals(chunks[i] as Buffer))).toBe(true);
    const back = await Promise.all(frames.map((f) => zstdUnframe(f, 1 << 20)));
    expect(back.every((b, i) => b.equals(chunks[i] as Buffer))).toBe(true);
  });

  it('refuses a bad frame or one past its bound, and the lanes go on working', async () => {
    const good = zstdCompressSync(Buffer.alloc(100_000, 'x'));
    const bad = Buffer.concat([good.subarray(0, 12), randomBytes(64)]);
    const results = await Promise.allSettled(
      [bad, good, bad, good].flatMap((f) => [zstdUnframe(f, 200_000), zstdUnframe(good, 1000)]),
    );
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => r.value.length)).toEqual([
      100_000, 100_000,
    ]);
    for (let i = 0; i < 8; i++) expect((await zstdUnframe(good, 200_000)).length).toBe(100_000);
  });

  it('decodes a payload of several frames whole, and the lane goes on working', async () => {
    const a = Buffer.alloc(51_216, 'first ');
    const b = Buffer.alloc(30_000, 'second ');
    const empty = Buffer.from('28b52ffd2000010000', 'hex');
    // Stores written before the compressor dropped empty tails hold payloads like this one.
    const twoFrames = Buffer.concat([zstdCompressSync(a), empty]);
    const three = Buffer.concat([zstdCompressSync(a), zstdCompressSync(b)]);
    for (let i = 0; i < 8; i++) {
      expect((await zstdUnframe(twoFrames, 1 << 20)).equals(a)).toBe(true);
      expect((await zstdUnframe(three, 1 << 20)).equals(Buffer.concat([a, b]))).toBe(true);
      expect((await zstdUnframe(zstdCompressSync(b), 1 << 20)).equals(b)).toBe(true);
    }
    await expect(zstdUnframe(three, 60_000)).rejects.toThrow(/bound/);
  });

  it('drops the empty frame node makes zstd write after a frame that filled its buffer', () => {
    const frame = zstdCompressSync(Buffer.alloc(1000, 'x'));
    const empty = zstdCompressSync(Buffer.alloc(0));
    expect(withoutEmptyTail(Buffer.concat([frame, empty]))).toEqual(frame);
    expect(withoutEmptyTail(frame)).toEqual(frame);
    expect(zstdDecompressSync(Buffer.concat([frame, empty]))).toEqual(zstdDecompressSync(frame));
  });
});

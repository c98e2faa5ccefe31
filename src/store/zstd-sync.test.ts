import { randomBytes } from 'node:crypto';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { zstdFrameSync, zstdUnframeSync } from './zstd-sync.js';

const text = (n: number, seed: string) => Buffer.alloc(n, `${seed} ${randomBytes(6).toString('hex')} `);

describe('zstd on the calling thread', () => {
  it('makes one independent frame per chunk, as node decodes it, and decodes node frames', () => {
    for (const n of [0, 1, 63, 4096, 70_000, 300_000, 2 ** 20 + 7]) {
      const plain = n % 2 ? randomBytes(n) : text(n, `n${n}`);
      const frame = zstdFrameSync(plain);
      expect(zstdDecompressSync(frame).equals(plain)).toBe(true);
      expect(zstdUnframeSync(frame, n).equals(plain)).toBe(true);
      expect(zstdUnframeSync(zstdCompressSync(plain), n).equals(plain)).toBe(true);
    }
  });

  it('decodes a frame that states no content size, growing its output', () => {
    // node's stream encoder does not know the size ahead, so its frames do not state it.
    const plain = text(5 * 2 ** 20, 'unsized');
    const frame = zstdCompressSync(plain, { chunkSize: 4096 });
    expect(zstdUnframeSync(frame, plain.length).equals(plain)).toBe(true);
  });

  it('decodes a payload of several frames whole', () => {
    const a = text(51_216, 'first');
    const b = text(30_000, 'second');
    const empty = Buffer.from('28b52ffd2000010000', 'hex');
    expect(zstdUnframeSync(Buffer.concat([zstdFrameSync(a), empty]), 1 << 20).equals(a)).toBe(true);
    const both = Buffer.concat([zstdFrameSync(a), zstdFrameSync(b)]);
    expect(zstdUnframeSync(both, 1 << 20).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('refuses output past its bound, to the byte', () => {
    const plain = text(100_000, 'bound');
    const frame = zstdFrameSync(plain);
    expect(zstdUnframeSync(frame, 100_000).length).toBe(100_000);
    expect(() => zstdUnframeSync(frame, 99_999)).toThrow(/bound/);
    expect(() => zstdUnframeSync(Buffer.concat([frame, frame]), 150_000)).toThrow(/bound/);
  });

  it('refuses corrupt input, and the next payload decodes right', () => {
    const plain = text(100_000, 'after');
    const good = zstdFrameSync(plain);
    const corrupt = Buffer.concat([good.subarray(0, 12), randomBytes(64)]);
    for (let i = 0; i < 4; i++) {
      expect(() => zstdUnframeSync(corrupt, 200_000)).toThrow();
      expect(() => zstdUnframeSync(Buffer.from('not a zstd frame at all'), 200_000)).toThrow();
      expect(zstdUnframeSync(good, 200_000).equals(plain)).toBe(true);
    }
  });

  it('starts each payload afresh: one cut short does not spill into the next', () => {
    const a = text(200_000, 'cut');
    const b = text(200_000, 'whole');
    const cut = zstdFrameSync(a).subarray(0, 40);
    const short = (() => {
      try {
        return zstdUnframeSync(cut, 1 << 20).length;
      } catch {
        return -1;
      }
    })();
    expect(short).toBeLessThan(a.length);
    expect(zstdUnframeSync(zstdFrameSync(b), 1 << 20).equals(b)).toBe(true);
  });

  it('decodes transient output into one reused buffer, and larger payloads apart', () => {
    const small = text(70_000, 'small');
    const large = text(3 * 2 ** 20, 'large');
    const a = zstdUnframeSync(zstdFrameSync(small), 1 << 24, true);
    expect(a.equals(small)).toBe(true);
    const b = zstdUnframeSync(zstdFrameSync(text(70_000, 'other')), 1 << 24, true);
    expect(b.buffer).toBe(a.buffer);
    expect(zstdUnframeSync(zstdFrameSync(large), 1 << 24, true).equals(large)).toBe(true);
    expect(() => zstdUnframeSync(zstdFrameSync(small), 69_999, true)).toThrow(/bound/);
  });
});

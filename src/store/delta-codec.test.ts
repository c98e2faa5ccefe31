import { randomBytes, randomFillSync } from 'node:crypto';
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeDelta, encodeDelta } from './delta-codec.js';

const MAX = 16 * 2 ** 20;

describe('delta codec', () => {
  it('encodes a chunk with one rewritten 4 KiB block in about 4 KiB, and decodes it back', () => {
    const reference = randomBytes(65_536);
    const target = Buffer.from(reference);
    randomFillSync(target, 30_000, 4096);
    const delta = encodeDelta(target, reference);
    expect(delta.length).toBeLessThan(4096 + 512);
    expect(decodeDelta(delta, reference, MAX).equals(target)).toBe(true);
  });

  it('decodes against another reference to other bytes or refuses, never to the target', () => {
    const reference = randomBytes(65_536);
    const target = Buffer.concat([reference.subarray(0, 60_000), randomBytes(100)]);
    const delta = encodeDelta(target, reference);
    let decoded: Buffer | undefined;
    try {
      decoded = decodeDelta(delta, randomBytes(65_536), MAX);
    } catch (err) {
      expect(err).toMatchObject({ code: 'CORRUPT' });
    }
    expect(decoded?.equals(target) ?? false).toBe(false);
  });

  it('refuses a delta bomb before decoding, and a malformed payload', () => {
    const bomb = zstdCompressSync(Buffer.alloc(MAX + 2 ** 20));
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(() => decodeDelta(bomb, randomBytes(1024), MAX)).toThrow(
      expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }),
    );
    expect(() => decodeDelta(Buffer.from('not a zstd frame'), randomBytes(1024), MAX)).toThrow(
      expect.objectContaining({ code: 'CORRUPT' }),
    );
  });
});

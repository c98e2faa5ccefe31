import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { copyBytes } from './byte-copy.js';

describe('copyBytes', () => {
  it('copies into shared and plain memory at unaligned offsets, touching nothing around', () => {
    for (const target of [Buffer.from(new SharedArrayBuffer(300)), new Uint8Array(300)]) {
      target.fill(9);
      const source = randomBytes(201).subarray(3, 200);
      copyBytes(target, 7, source);
      copyBytes(target, 0, new Uint8Array(0));
      expect(Buffer.from(target.subarray(7, 7 + source.length)).equals(source)).toBe(true);
      expect([target[6], target[7 + source.length], target[0]]).toEqual([9, 9, 9]);
    }
  });

  it('refuses a range past the end of the target', () => {
    expect(() => copyBytes(Buffer.alloc(10), 5, Buffer.alloc(6, 1))).toThrow(RangeError);
  });
});

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  alignedPatch,
  applyPatch,
  blockSignatures,
  encodePatch,
  SIGNATURE_BLOCK,
  SIGNATURE_ENTRY,
} from './patch-codec.js';

const MAX = 16 * 2 ** 20;

describe('block signatures and patches', () => {
  it('signs each whole block', () => {
    expect(blockSignatures(randomBytes(5 * SIGNATURE_BLOCK + 100)).length).toBe(5 * SIGNATURE_ENTRY);
    expect(blockSignatures(randomBytes(100)).length).toBe(0);
  });

  it('sends a rewritten block as a literal and the rest as one copy each side', () => {
    const reference = randomBytes(64 * 1024);
    const target = Buffer.from(reference);
    randomBytes(4096).copy(target, 20_480);
    const patch = encodePatch(target, blockSignatures(reference));
    expect(applyPatch(patch, reference, MAX).equals(target)).toBe(true);
    // Two copies and one 4 KiB literal.
    expect(patch.length).toBe(9 + 5 + 4096 + 9);
  });

  it('finds blocks at any offset: bytes inserted and removed', () => {
    const reference = randomBytes(64 * 1024 + 777);
    const target = Buffer.concat([
      reference.subarray(0, 10_000),
      randomBytes(333),
      reference.subarray(10_000, 40_000),
      reference.subarray(45_000),
    ]);
    const patch = encodePatch(target, blockSignatures(reference));
    expect(applyPatch(patch, reference, MAX).equals(target)).toBe(true);
    expect(patch.length).toBeLessThan(4 * SIGNATURE_BLOCK + 333 + 100);
  });

  it('is all literal against an unrelated reference, and without signatures', () => {
    const target = randomBytes(10_000);
    for (const sigs of [blockSignatures(randomBytes(8192)), Buffer.alloc(0)]) {
      const patch = encodePatch(target, sigs);
      expect(patch.length).toBe(5 + target.length);
      expect(applyPatch(patch, Buffer.alloc(0), MAX).equals(target)).toBe(true);
    }
  });

  it('patches a chunk rewritten in place to the bytes that differ, at any length', () => {
    const reference = randomBytes(64 * 1024 + 300);
    const target = Buffer.from(reference);
    randomBytes(4096).copy(target, 20_481); // not on a block boundary
    target.writeUInt8(target.readUInt8(50_000) ^ 1, 50_000);
    const patch = alignedPatch(target, reference);
    expect(applyPatch(patch, reference, MAX).equals(target)).toBe(true);
    // Three copies and two literals (4096 and 1 bytes, the second at most a few bytes wider).
    expect(patch.length).toBeLessThan(3 * 9 + 2 * 5 + 4096 + 8);
    const longer = Buffer.concat([target, randomBytes(1000)]);
    const shorter = target.subarray(0, 30_000);
    for (const t of [longer, shorter])
      expect(applyPatch(alignedPatch(t, reference), reference, MAX).equals(t)).toBe(true);
  });

  it('compresses a long literal that compresses', () => {
    const reference = randomBytes(32 * 1024);
    const target = Buffer.from(reference);
    Buffer.alloc(8192, 'text text text ').copy(target, 8192);
    const patch = alignedPatch(target, reference);
    expect(patch.length).toBeLessThan(1024);
    expect(applyPatch(patch, reference, MAX).equals(target)).toBe(true);
    const bomb = Buffer.from(patch);
    // The same frame claiming fewer bytes than it holds is refused, not cut.
    // copy(0, 8192) is the first op; the compressed literal the second.
    const at = 9;
    expect(bomb[at]).toBe(2);
    bomb.writeUInt32BE(100, at + 1);
    expect(() => applyPatch(bomb, reference, MAX)).toThrow(/patch does not apply/);
  });

  it('refuses a malformed patch: past the reference, cut short, unknown op, a bomb', () => {
    const reference = randomBytes(4096);
    const copy = (offset: number, length: number) => {
      const op = Buffer.alloc(9);
      op.writeUInt32BE(offset, 1);
      op.writeUInt32BE(length, 5);
      return op;
    };
    expect(() => applyPatch(copy(4000, 200), reference, MAX)).toThrow(/past its reference/);
    expect(() => applyPatch(copy(0, 100).subarray(0, 6), reference, MAX)).toThrow(/cut short/);
    expect(() => applyPatch(Buffer.from([7, 0, 0, 0, 0, 0, 0, 0, 0]), reference, MAX)).toThrow(/unknown/);
    const bomb = Buffer.concat(Array.from({ length: 5000 }, () => copy(0, 4096)));
    expect(() => applyPatch(bomb, reference, 2 ** 20)).toThrow(/more than/);
    expect(() => applyPatch(Buffer.alloc(0), reference, MAX)).toThrow(/no bytes/);
  });
});

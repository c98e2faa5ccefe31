import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DigestTable } from './digest-table.js';
import type { Digest } from './manifest.js';

const digestOf = (i: number) => createHash('sha256').update(String(i)).digest('hex') as Digest;

describe('DigestTable', () => {
  it('holds each digest once with its length, growing past what it was sized for', () => {
    const t = new DigestTable(4);
    for (let i = 0; i < 5000; i++) expect(t.add(digestOf(i), 1 + (i % 100))).toBe(true);
    for (let i = 0; i < 5000; i += 7) expect(t.add(digestOf(i), 1 + (i % 100))).toBe(false);
    expect(t.size).toBe(5000);
    let bytes = 0;
    for (let i = 0; i < 5000; i++) bytes += 1 + (i % 100);
    expect(t.bytes).toBe(bytes);
    for (let i = 0; i < 5000; i++) expect(t.lengthOf(digestOf(i))).toBe(1 + (i % 100));
    expect(t.has(digestOf(5000))).toBe(false);
    expect(t.lengthOf(digestOf(5001))).toBeUndefined();
  });

  it('marks a held digest once, and never one it does not hold', () => {
    const t = new DigestTable();
    t.add(digestOf(1), 10);
    expect(t.mark(digestOf(1))).toBe(true);
    expect(t.mark(digestOf(1))).toBe(false);
    expect(t.mark(digestOf(2))).toBe(false);
    expect(t.lengthOf(digestOf(1))).toBe(10);
    t.add(digestOf(2), 20);
    expect(t.mark(digestOf(2))).toBe(true);
  });

  it('clears its marks for a second pass, keeping its digests', () => {
    const t = new DigestTable();
    const d = digestOf(1);
    t.add(d, 10);
    expect(t.mark(d)).toBe(true);
    t.clearMarks();
    expect(t.lengthOf(d)).toBe(10);
    expect(t.mark(d)).toBe(true);
    expect(t.mark(d)).toBe(false);
  });

  it('keeps marks across growth', () => {
    const t = new DigestTable(1);
    t.add(digestOf(0), 5);
    t.mark(digestOf(0));
    for (let i = 1; i < 100; i++) t.add(digestOf(i), 5);
    expect(t.mark(digestOf(0))).toBe(false);
    expect(t.mark(digestOf(99))).toBe(true);
  });

  it('refuses a second length for a digest, and what is not a digest', () => {
    const t = new DigestTable();
    t.add(digestOf(1), 10);
    expect(() => t.add(digestOf(1), 11)).toThrow(/two different lengths/);
    expect(() => t.add('zz' as Digest, 1)).toThrow(RangeError);
    expect(() => t.add(digestOf(3), 0)).toThrow(RangeError);
  });

  it('costs ~52 bytes a chunk at its load', () => {
    const t = new DigestTable(262_144);
    expect(t.footprint / 262_144).toBeLessThan(53);
  });
});

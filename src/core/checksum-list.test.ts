import { describe, expect, it } from 'vitest';
import { parseSha256, sha256For } from './checksum-list.js';

const A = 'a'.repeat(64);
const B = 'B'.repeat(64);

describe('sha256For', () => {
  it('finds the line of a file name in sha256sum and BSD formats', () => {
    const list = `${A}  other.img\n${B} *pub/disk7.img\nSHA256 (ol9.iso) = ${A}\n`;
    expect(sha256For(list, 'disk7.img', 'SUMS')).toBe('b'.repeat(64));
    expect(sha256For(list, 'ol9.iso', 'SUMS')).toBe(A);
    expect(() => sha256For(list, 'missing.img', 'SUMS')).toThrow(/SUMS lists no SHA-256 for missing.img/);
  });

  it('takes 64 hex digits and nothing else', () => {
    expect(parseSha256(B)).toBe('b'.repeat(64));
    expect(() => parseSha256('abc')).toThrow(/64 hex digits/);
  });
});

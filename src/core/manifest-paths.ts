import { IngotError } from './errors.js';

/**
 * The rules for entry paths, shared by the codec (which refuses bad manifests) and by
 * deploy (which checks again before touching the disk). Pure: no I/O.
 */

export const MAX_PATH_BYTES = 4096;

/**
 * Returns `path` if it is relative, '/'-separated, with no empty, '.' or '..' component,
 * no NUL and at most 4096 UTF-8 bytes; throws UNSAFE_PATH otherwise. The root "." is not
 * an entry path in this sense and is refused too.
 */
export function checkEntryPath(path: string): string {
  const why = unsafeReason(path);
  if (why) {
    throw new IngotError('UNSAFE_PATH', `unsafe path ${JSON.stringify(path.slice(0, 200))}: ${why}`, {
      hint: 'entry paths are relative, use "/" and have no empty, "." or ".." parts',
    });
  }
  return path;
}

function unsafeReason(path: string): string | undefined {
  if (path.length === 0) return 'empty';
  if (path.includes('\0')) return 'holds NUL';
  if (path.startsWith('/')) return 'absolute';
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) return `longer than ${MAX_PATH_BYTES} bytes`;
  for (const part of path.split('/')) {
    if (part === '') return 'empty component';
    if (part === '.' || part === '..') return `"${part}" component`;
  }
  return undefined;
}

/**
 * Orders paths by their UTF-8 bytes without encoding them. UTF-16 code-unit order equals
 * code-point (hence UTF-8 byte) order except that surrogates (U+D800..DFFF, i.e. code points
 * above U+FFFF) must sort after U+E000..FFFF; the shift below fixes exactly that.
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fix(x) - fix(y);
  }
  return a.length - b.length;
}

function fix(c: number): number {
  if (c < 0xd800) return c;
  return c >= 0xe000 ? c - 0x800 : c + 0x2000;
}

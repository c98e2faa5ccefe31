import { describe, expect, it } from 'vitest';
import { IngotError } from './errors.js';
import type { Digest, Entry, Manifest } from './manifest.js';
import {
  canonicalJson,
  comparePaths,
  decodeManifest,
  draftToJson,
  encodeManifest,
  manifestDigest,
  parseDraft,
  validateDraft,
} from './manifest-codec.js';

const D1 = 'a'.repeat(64) as Digest;
const D2 = 'b'.repeat(64) as Digest;
const T = { sec: 1_700_000_000, nsec: 123_456_789 };
const base = { mode: 0o755, uid: 0, gid: 0, mtime: T };

function tree(entries: Entry[], chunks = [{ kind: 'data' as const, digest: D1, length: 10 }]): Manifest {
  return {
    format: 'ingot-manifest',
    version: 1,
    name: 'DBHOME_19',
    origin: 'hq',
    imageType: 'DBHOME',
    parent: null,
    created: '2024-05-01T12:00:00.000Z',
    payload: { kind: 'tree', entries },
    chunks,
  };
}

const good: Entry[] = [
  { ...base, path: '.', type: 'dir' },
  { ...base, path: 'bin', type: 'dir', xattrs: { 'user.a': 'aGk=' } },
  { ...base, path: 'bin/tool', type: 'file', size: 10, mode: 0o4755 },
  { ...base, path: 'bin/tool2', type: 'hardlink', target: 'bin/tool' },
  { ...base, path: 'dev', type: 'dir' },
  { ...base, path: 'dev/null', type: 'chardev', major: 1, minor: 3 },
  { ...base, path: 'dev/pipe', type: 'fifo' },
  { ...base, path: 'link', type: 'symlink', target: '../../etc/passwd' },
];

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(IngotError);
    return (e as IngotError).code;
  }
  return undefined;
}

/** Encodes a hand-made JSON manifest canonically, bypassing the model's encoder. */
function raw(json: unknown): Buffer {
  return Buffer.from(canonicalJson(json as never));
}

function jsonOf(m: Manifest): Record<string, unknown> {
  return JSON.parse(encodeManifest(m).toString());
}

describe('manifest codec', () => {
  it('round-trips a tree manifest and pins the byte form', () => {
    const m = tree(good);
    const bytes = encodeManifest(m);
    expect(decodeManifest(bytes)).toEqual(m);
    const text = bytes.toString();
    expect(text.startsWith('{"chunks":[[10,"aaaa')).toBe(true);
    expect(text).toContain('{"gid":0,"mode":2541,"mtime":[1700000000,123456789],"path":"bin/tool","size":10');
    expect(text).not.toMatch(/\s/);
    expect(manifestDigest(bytes)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('hands back the manifest it decoded last for the same bytes, and checks other bytes afresh', () => {
    const bytes = encodeManifest(tree(good));
    const first = decodeManifest(bytes);
    expect(decodeManifest(Buffer.from(bytes))).toBe(first);
    const other = encodeManifest({ ...tree(good), name: 'OTHER' });
    expect(decodeManifest(other)).not.toBe(first);
    expect(decodeManifest(other).name).toBe('OTHER');
    const spaced = Buffer.from(`${bytes.toString()} `);
    expect(() => decodeManifest(spaced)).toThrow(IngotError);
  });

  it('round-trips a file manifest with holes', () => {
    const m: Manifest = {
      ...tree([]),
      payload: { kind: 'file', size: 30, mode: 0o644 },
      chunks: [
        { kind: 'data', digest: D1, length: 10 },
        { kind: 'hole', length: 15 },
        { kind: 'data', digest: D2, length: 5 },
      ],
    };
    const bytes = encodeManifest(m);
    expect(bytes.toString()).toContain(`"chunks":[[10,"${D1}"],[15],[5,"${D2}"]]`);
    expect(decodeManifest(bytes)).toEqual(m);
  });

  it('refuses non-canonical bytes: whitespace, key order, floats, duplicate keys', () => {
    const text = encodeManifest(tree(good)).toString();
    expect(code(() => decodeManifest(Buffer.from(`${text} `)))).toBe('INVALID_MANIFEST');
    expect(code(() => decodeManifest(Buffer.from(text.replace('"version":1', '"version":1.0'))))).toBe(
      'INVALID_MANIFEST',
    );
    expect(code(() => decodeManifest(Buffer.from(text.replace('"size":10', '"size":1e1'))))).toBe(
      'INVALID_MANIFEST',
    );
    const swapped = text.replace('{"chunks":', '{"version":1,"chunks":');
    expect(code(() => decodeManifest(Buffer.from(swapped)))).toBe('INVALID_MANIFEST');
    expect(code(() => decodeManifest(Buffer.from([0xff, 0xfe])))).toBe('INVALID_MANIFEST');
  });

  it('refuses unknown format and version, and unknown keys', () => {
    const j = jsonOf(tree(good));
    expect(code(() => decodeManifest(raw({ ...j, format: 'other' })))).toBe('INVALID_MANIFEST');
    expect(code(() => decodeManifest(raw({ ...j, version: 2 })))).toBe('INVALID_MANIFEST');
    expect(code(() => decodeManifest(raw({ ...j, extra: 1 })))).toBe('INVALID_MANIFEST');
  });

  it('checks name, origin, imageType, parent and created', () => {
    const j = jsonOf(tree(good));
    for (const patch of [
      { name: '' },
      { origin: 'a b' },
      { imageType: 7 },
      { parent: 'xyz' },
      { created: '2024-05-01' },
      { created: '2024-13-01T12:00:00.000Z' },
    ]) {
      expect(code(() => decodeManifest(raw({ ...j, ...patch })))).toBe('INVALID_MANIFEST');
    }
    expect(decodeManifest(raw({ ...j, parent: D2 })).parent).toBe(D2);
  });

  it.each([
    ['/abs'],
    ['a//b'],
    ['a/./b'],
    ['a/../b'],
    ['..'],
    ['a/'],
    [''],
    ['a\0b'],
    [`${'x'.repeat(4097)}`],
  ])('refuses unsafe path #%# with UNSAFE_PATH', (p) => {
    const entries: Entry[] = [
      { ...base, path: '.', type: 'dir' },
      { ...base, path: p, type: 'dir' },
    ];
    expect(code(() => encodeManifest(tree(entries, [])))).toBeUndefined();
    expect(code(() => decodeManifest(encodeManifest(tree(entries, []))))).toBe('UNSAFE_PATH');
  });

  it('accepts a path of exactly 4096 bytes', () => {
    const p = 'x'.repeat(4096);
    const m = tree(
      [
        { ...base, path: '.', type: 'dir' },
        { ...base, path: p, type: 'dir' },
      ],
      [],
    );
    expect(decodeManifest(encodeManifest(m))).toEqual(m);
  });

  it('requires the root "." first, as a directory', () => {
    const noRoot = good.slice(1);
    expect(code(() => decodeManifest(encodeManifest(tree(noRoot))))).toBe('INVALID_MANIFEST');
    const fileRoot: Entry[] = [{ ...base, path: '.', type: 'file', size: 10 }];
    expect(code(() => decodeManifest(encodeManifest(tree(fileRoot))))).toBe('INVALID_MANIFEST');
    expect(code(() => decodeManifest(encodeManifest(tree([], []))))).toBe('INVALID_MANIFEST');
  });

  it('requires strict byte order and unique paths', () => {
    const dup: Entry[] = [good[0]!, good[1]!, good[1]!];
    expect(code(() => decodeManifest(encodeManifest(tree(dup, []))))).toBe('INVALID_MANIFEST');
    const unsorted: Entry[] = [good[0]!, good[4]!, good[1]!];
    expect(code(() => decodeManifest(encodeManifest(tree(unsorted, []))))).toBe('INVALID_MANIFEST');
    // byte order: "a-b" < "a/b" < "a0"; "é" (U+00E9) < "😀" (U+1F600) < "￿" is wrong: 😀 sorts last.
    expect(['a0', 'a/b', 'a-b'].sort(comparePaths)).toEqual(['a-b', 'a/b', 'a0']);
    expect(['\u{1F600}', '\uFFFF', 'é'].sort(comparePaths)).toEqual(['é', '\uFFFF', '\u{1F600}']);
  });

  it('refuses an entry under a symlink or a file (no write through a symlink on deploy)', () => {
    const underLink: Entry[] = [
      { ...base, path: '.', type: 'dir' },
      { ...base, path: 'l', type: 'symlink', target: '/etc' },
      { ...base, path: 'l/passwd', type: 'file', size: 10 },
    ];
    expect(code(() => decodeManifest(encodeManifest(tree(underLink))))).toBe('UNSAFE_PATH');
    const orphan: Entry[] = [
      { ...base, path: '.', type: 'dir' },
      { ...base, path: 'a/b', type: 'file', size: 10 },
    ];
    expect(code(() => decodeManifest(encodeManifest(tree(orphan))))).toBe('UNSAFE_PATH');
  });

  it('requires hard links to name an earlier file', () => {
    const forward: Entry[] = [
      { ...base, path: '.', type: 'dir' },
      { ...base, path: 'a', type: 'hardlink', target: 'b' },
      { ...base, path: 'b', type: 'file', size: 10 },
    ];
    expect(code(() => decodeManifest(encodeManifest(tree(forward))))).toBe('INVALID_MANIFEST');
    const toDir: Entry[] = [
      { ...base, path: '.', type: 'dir' },
      { ...base, path: 'a', type: 'dir' },
      { ...base, path: 'b', type: 'hardlink', target: 'a' },
    ];
    expect(code(() => decodeManifest(encodeManifest(tree(toDir, []))))).toBe('INVALID_MANIFEST');
    const unsafe: Entry[] = [
      { ...base, path: '.', type: 'dir' },
      { ...base, path: 'b', type: 'hardlink', target: '../x' },
    ];
    expect(code(() => decodeManifest(encodeManifest(tree(unsafe, []))))).toBe('UNSAFE_PATH');
  });

  it('accepts any symlink target but an empty one or one with NUL', () => {
    const mk = (target: string) =>
      tree(
        [
          { ...base, path: '.', type: 'dir' },
          { ...base, path: 's', type: 'symlink', target },
        ],
        [],
      );
    expect(decodeManifest(encodeManifest(mk('/abs/../x'))).payload).toBeDefined();
    expect(code(() => decodeManifest(encodeManifest(mk(''))))).toBe('INVALID_MANIFEST');
    expect(code(() => decodeManifest(encodeManifest(mk('a\0b'))))).toBe('INVALID_MANIFEST');
  });

  it.each([
    ['mode', { mode: 0o10000 }],
    ['mode', { mode: -1 }],
    ['uid', { uid: -1 }],
    ['gid', { gid: 1.5 }],
    ['nsec', { mtime: { sec: 1, nsec: 1_000_000_000 } }],
    ['nsec', { mtime: { sec: 1, nsec: -1 } }],
  ])('refuses a bad %s', (_what, patch) => {
    const entries = [
      { ...base, path: '.', type: 'dir' } as Entry,
      { ...base, path: 'x', type: 'dir', ...patch } as Entry,
    ];
    const j = JSON.parse(JSON.stringify(draftToJson({ payload: { kind: 'tree', entries }, chunks: [] })));
    expect(code(() => parseDraft(j))).toBe('INVALID_MANIFEST');
  });

  it('requires sizes to match the chunk lengths', () => {
    expect(code(() => decodeManifest(encodeManifest(tree(good, []))))).toBe('INVALID_MANIFEST');
    const file = { payload: { kind: 'file', size: 11, mode: 0o644 }, chunks: [[10, D1]] };
    expect(code(() => parseDraft(file))).toBe('INVALID_MANIFEST');
    expect(code(() => parseDraft({ ...file, payload: { kind: 'file', size: -1, mode: 0 } }))).toBe(
      'INVALID_MANIFEST',
    );
    expect(parseDraft({ ...file, chunks: [[10, D1], [1]] }).chunks).toHaveLength(2);
  });

  it('checks chunk lengths and digests', () => {
    const p = { kind: 'file', size: 0, mode: 0 };
    expect(code(() => parseDraft({ payload: p, chunks: [[0]] }))).toBe('INVALID_MANIFEST');
    const big = 16 * 1024 * 1024 + 1;
    expect(code(() => parseDraft({ payload: { ...p, size: big }, chunks: [[big, D1]] }))).toBe(
      'INVALID_MANIFEST',
    );
    const max = 16 * 1024 * 1024;
    expect(parseDraft({ payload: { ...p, size: max }, chunks: [[max, D1]] }).chunks).toHaveLength(1);
    expect(code(() => parseDraft({ payload: { ...p, size: 1 }, chunks: [[1, D1.toUpperCase()]] }))).toBe(
      'INVALID_MANIFEST',
    );
    expect(code(() => parseDraft({ payload: { ...p, size: 1 }, chunks: [[1, 'ab']] }))).toBe(
      'INVALID_MANIFEST',
    );
  });

  it('checks xattr names and base64 values; omits empty xattrs', () => {
    const mk = (xattrs: unknown) => ({
      payload: {
        kind: 'tree',
        entries: [{ path: '.', type: 'dir', mode: 0, uid: 0, gid: 0, mtime: [0, 0], xattrs }],
      },
      chunks: [],
    });
    expect(code(() => parseDraft(mk({ '': 'aGk=' })))).toBe('INVALID_MANIFEST');
    expect(code(() => parseDraft(mk({ 'user.a': 'not base64!' })))).toBe('INVALID_MANIFEST');
    expect(code(() => parseDraft(mk({ 'user.a': 'aGk' })))).toBe('INVALID_MANIFEST');
    const ok = parseDraft(mk({ 'user.a': 'aGk=', 'security.capability': '' }));
    expect(ok.payload.kind === 'tree' && ok.payload.entries[0]?.xattrs).toEqual({
      'user.a': 'aGk=',
      'security.capability': '',
    });
    const none = parseDraft(mk({}));
    expect(none.payload.kind === 'tree' && 'xattrs' in none.payload.entries[0]!).toBe(false);
  });

  it('round-trips drafts through draftToJson/parseDraft and validateDraft', () => {
    const m = tree(good);
    const d = { payload: m.payload, chunks: m.chunks };
    expect(parseDraft(JSON.parse(JSON.stringify(draftToJson(d))))).toEqual(d);
    expect(validateDraft(d)).toEqual(d);
    expect(code(() => parseDraft({ payload: m.payload }))).toBe('INVALID_MANIFEST');
    expect(code(() => parseDraft(null))).toBe('INVALID_MANIFEST');
  });

  it('refuses lone surrogates in strings', () => {
    const j = jsonOf(tree(good));
    const text = canonicalJson(j as never).replace('"bin/tool2"', '"bin/tool\\ud800"');
    expect(code(() => decodeManifest(Buffer.from(text)))).toBe('INVALID_MANIFEST');
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IngotError } from './errors.js';
import type { ChunkRef, Digest, Entry, Manifest } from './manifest.js';
import { canonicalJson, encodeManifest } from './manifest-codec.js';
import {
  CHUNK_RECORD,
  decodeChunkRecords,
  decodeRoot,
  encodeManifestV2,
  type Part,
  partsOf,
  type RootV2,
  streamChunkList,
} from './manifest-v2.js';
import { assembleManifestV2 } from './manifest-v2-check.js';

const T = { sec: 1_700_000_000, nsec: 5 };
const base = { mode: 0o644, uid: 0, gid: 0, mtime: T };

function digestOf(i: number): Digest {
  return createHash('sha256').update(`chunk ${i}`).digest('hex') as Digest;
}

function refs(n: number, from = 0): ChunkRef[] {
  return Array.from({ length: n }, (_, i) =>
    (from + i) % 97 === 96
      ? { kind: 'hole', length: 4096 }
      : { kind: 'data', digest: digestOf(from + i), length: 1000 },
  );
}

function fileManifest(chunks: ChunkRef[]): Manifest {
  let size = 0;
  for (const c of chunks) size += c.length;
  return {
    format: 'ingot-manifest',
    version: 2,
    name: 'DISK_1',
    origin: 'hq',
    imageType: 'DISKIMAGE',
    parent: null,
    created: '2026-12-02T12:00:00.000Z',
    payload: { kind: 'file', size, mode: 0o600 },
    chunks,
  };
}

function treeManifest(files: number): Manifest {
  const entries: Entry[] = [{ ...base, path: '.', type: 'dir', mode: 0o755 }];
  for (let i = 0; i < files; i++)
    entries.push({ ...base, path: `f${String(i).padStart(6, '0')}`, type: 'file', size: 1000 });
  return {
    ...fileManifest(refs(files).map((c) => ({ ...c, length: 1000 }))),
    payload: { kind: 'tree', entries },
  };
}

function store(parts: readonly Part[]): (d: Digest) => Buffer {
  const m = new Map(parts.map((p) => [p.digest, p.bytes]));
  return (d) => {
    const b = m.get(d);
    if (!b) throw new IngotError('NOT_FOUND', `no part ${d}`);
    return b;
  };
}

function rootOf(bytes: Buffer): RootV2 {
  const d = decodeRoot(bytes);
  if (d.version !== 2) throw new Error('not a v2 root');
  return d.root;
}

async function streamed(root: RootV2, parts: readonly Buffer[]): Promise<ChunkRef[]> {
  const out: ChunkRef[] = [];
  for await (const refs of streamChunkList(
    root,
    (async function* () {
      yield* parts;
    })(),
  ))
    out.push(...refs);
  return out;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (e instanceof IngotError ? e.code : 'not an IngotError'),
  );
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(IngotError);
    return (e as IngotError).code;
  }
  return undefined;
}

describe('manifest v2', () => {
  it('round-trips a file image through a root and its chunk list parts', () => {
    const m = fileManifest(refs(10_000));
    const { root, parts } = encodeManifestV2(m);
    const r = rootOf(root);
    expect(r.chunks.count).toBe(10_000);
    expect(partsOf(r).map((p) => p.digest)).toEqual(parts.map((p) => p.digest));
    expect(parts.length).toBeGreaterThan(3);
    for (const p of parts) expect(p.bytes.length % CHUNK_RECORD).toBe(0);
    expect(assembleManifestV2(r, store(parts))).toEqual(m);
    expect(root.length).toBeLessThan(encodeManifest({ ...m, version: 1 }).length / 50);
  });

  it('round-trips a tree through its entry table parts', () => {
    const m = treeManifest(3000);
    const { root, parts } = encodeManifestV2(m);
    const r = rootOf(root);
    expect(r.payload.kind === 'tree' && r.payload.entries.count).toBe(3001);
    expect(assembleManifestV2(r, store(parts))).toEqual(m);
  });

  it('holds an empty file as a root with no parts', () => {
    const m = fileManifest([]);
    const { root, parts } = encodeManifestV2(m);
    expect(parts).toEqual([]);
    expect(assembleManifestV2(rootOf(root), store([]))).toEqual(m);
  });

  it('cuts where the content says, so an insertion changes only the parts around it', () => {
    const before = encodeManifestV2(fileManifest(refs(20_000))).parts.map((p) => p.digest);
    const list = refs(20_000);
    list.splice(100, 0, { kind: 'data', digest: digestOf(-1), length: 1000 });
    const after = encodeManifestV2(fileManifest(list)).parts.map((p) => p.digest);
    const shared = after.filter((d) => before.includes(d)).length;
    expect(before.length).toBeGreaterThan(8);
    expect(shared).toBeGreaterThanOrEqual(before.length - 2);
  });

  it('reads holes as all-zero digests and refuses a length of zero', () => {
    const [hole] = decodeChunkRecords(Buffer.concat([Buffer.from([0, 0, 16, 0]), Buffer.alloc(32)]), 'p');
    expect(hole).toEqual({ kind: 'hole', length: 4096 });
    expect(code(() => decodeChunkRecords(Buffer.alloc(CHUNK_RECORD), 'p'))).toBe('INVALID_MANIFEST');
    expect(code(() => decodeChunkRecords(Buffer.alloc(35), 'p'))).toBe('INVALID_MANIFEST');
  });

  it('refuses a part whose bytes do not match the digest the root names', () => {
    const { root, parts } = encodeManifestV2(fileManifest(refs(20_000)));
    const swapped = parts.map((p, i) => (i === 1 ? { ...p, bytes: Buffer.from(p.bytes).fill(1, 0, 4) } : p));
    expect(code(() => assembleManifestV2(rootOf(root), store(swapped)))).toBe('DIGEST_MISMATCH');
  });

  it('refuses a root whose counts or lengths disagree with its parts', () => {
    const { root } = encodeManifestV2(fileManifest(refs(3000)));
    const json = JSON.parse(root.toString()) as { chunks: { count: number; parts: number[][] } };
    const recount = (f: (j: typeof json) => void) => {
      const j = structuredClone(json);
      f(j);
      return Buffer.from(canonicalJson(j as never));
    };
    expect(code(() => decodeRoot(recount((j) => (j.chunks.count += 1))))).toBe('INVALID_MANIFEST');
    expect(code(() => decodeRoot(recount((j) => ((j.chunks.parts[0] as number[])[1] = 35))))).toBe(
      'INVALID_MANIFEST',
    );
    expect(code(() => decodeRoot(Buffer.from(`${root.toString().slice(0, -1)} }`)))).toBe('INVALID_MANIFEST');
  });

  it('refuses parts cut anywhere but where the rule says', () => {
    const m = fileManifest(refs(20_000));
    const { root } = encodeManifestV2(m);
    const r = rootOf(root);
    expect(r.chunks.parts.length).toBeGreaterThan(1);
    const one = Buffer.concat(encodeManifestV2(m).parts.map((p) => p.bytes));
    const digest = createHash('sha256').update(one).digest('hex') as Digest;
    const merged: RootV2 = {
      ...r,
      chunks: { ...r.chunks, parts: [{ count: 20_000, length: one.length, digest }] },
    };
    expect(code(() => assembleManifestV2(merged, store([{ digest, bytes: one }])))).toBe('INVALID_MANIFEST');
  });

  it('streams a chunk list part by part with the checks assembling makes', async () => {
    const m = fileManifest(refs(20_000));
    const { root, parts } = encodeManifestV2(m);
    const r = rootOf(root);
    const bytes = parts.map((p) => p.bytes);
    expect(await streamed(r, bytes)).toEqual(m.chunks);
    expect(await codeOf(streamed(r, bytes.slice(0, -1)))).toBe('INVALID_MANIFEST');
    expect(await codeOf(streamed(r, [...bytes, bytes[0] as Buffer]))).toBe('INVALID_MANIFEST');
    const flipped = bytes.map((b, i) => (i === 2 ? Buffer.from(b).fill(7, 4, 8) : b));
    expect(await codeOf(streamed(r, flipped))).toBe('DIGEST_MISMATCH');
    // One part holding the whole list: each record is valid, the cut is not.
    const one = Buffer.concat(bytes);
    const digest = createHash('sha256').update(one).digest('hex') as Digest;
    const merged: RootV2 = {
      ...r,
      chunks: { ...r.chunks, parts: [{ count: 20_000, length: one.length, digest }] },
    };
    expect(await codeOf(streamed(merged, [one]))).toBe('INVALID_MANIFEST');
  });

  it('applies the version 1 tree rules to the assembled entries', () => {
    const m = treeManifest(10);
    const entries = m.payload.kind === 'tree' ? m.payload.entries : [];
    const unsafe = {
      ...m,
      payload: {
        kind: 'tree' as const,
        entries: [...entries.slice(0, 10), { ...base, path: 'a/../../x', type: 'file' as const, size: 1000 }],
      },
    };
    const { root, parts } = encodeManifestV2(unsafe);
    expect(code(() => assembleManifestV2(rootOf(root), store(parts)))).toBe('UNSAFE_PATH');
  });

  it('refuses an entry table part with a line in a form other than the canonical one', () => {
    const m = treeManifest(3000);
    const { root, parts } = encodeManifestV2(m);
    const r = rootOf(root);
    if (r.payload.kind !== 'tree') throw new Error('not a tree');
    expect(r.payload.entries.parts.length).toBeGreaterThan(1);
    // The same entries, one line with its keys in another order: valid JSON, not canonical.
    const first = r.payload.entries.parts[0] as { digest: Digest; count: number };
    const old = (parts.find((p) => p.digest === first.digest) as Part).bytes.toString();
    const lines = old.split('\n');
    const parsed = JSON.parse(lines[1] as string) as Record<string, unknown>;
    lines[1] = JSON.stringify(Object.fromEntries(Object.entries(parsed).reverse()));
    const bytes = Buffer.from(lines.join('\n'));
    const digest = createHash('sha256').update(bytes).digest('hex') as Digest;
    const entries = {
      ...r.payload.entries,
      parts: [{ ...first, length: bytes.length, digest }, ...r.payload.entries.parts.slice(1)],
    };
    const bent: RootV2 = { ...r, payload: { kind: 'tree', entries } };
    const held = [...parts, { digest, bytes }];
    expect(code(() => assembleManifestV2(bent, store(held)))).toBe('INVALID_MANIFEST');
    // Known canonical parts are not re-encoded, but a part outside them still is.
    const known = new Set(partsOf(r).map((p) => p.digest));
    expect(code(() => assembleManifestV2(bent, store(held), { canonicalParts: known }))).toBe(
      'INVALID_MANIFEST',
    );
  });

  it('refuses an entry table cut anywhere but where the rule says', () => {
    const { root, parts } = encodeManifestV2(treeManifest(3000));
    const r = rootOf(root);
    if (r.payload.kind !== 'tree') throw new Error('not a tree');
    const [a, b, ...rest] = r.payload.entries.parts;
    if (!a || !b) throw new Error('fewer than two entry parts');
    const bytesOf = (d: Digest) => (parts.find((p) => p.digest === d) as Part).bytes;
    const bytes = Buffer.concat([bytesOf(a.digest), bytesOf(b.digest)]);
    const digest = createHash('sha256').update(bytes).digest('hex') as Digest;
    const merged = { count: a.count + b.count, length: bytes.length, digest };
    const bent: RootV2 = {
      ...r,
      payload: { kind: 'tree', entries: { ...r.payload.entries, parts: [merged, ...rest] } },
    };
    expect(code(() => assembleManifestV2(bent, store([...parts, { digest, bytes }])))).toBe(
      'INVALID_MANIFEST',
    );
  });

  it("assembles a new version the same with its parent's parts taken as checked", () => {
    const v1 = treeManifest(5000);
    const entries = v1.payload.kind === 'tree' ? [...v1.payload.entries] : [];
    entries[2500] = { ...(entries[2500] as Entry), mode: 0o600 };
    const v2: Manifest = { ...v1, payload: { kind: 'tree', entries } };
    const old = encodeManifestV2(v1);
    const { root, parts } = encodeManifestV2(v2);
    const known = new Set(partsOf(rootOf(old.root)).map((p) => p.digest));
    const fresh = partsOf(rootOf(root)).filter((p) => !known.has(p.digest));
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.length).toBeLessThan(partsOf(rootOf(root)).length / 2);
    expect(assembleManifestV2(rootOf(root), store(parts), { canonicalParts: known })).toEqual(v2);
  });

  it('still reads version 1 manifests whole', () => {
    const m = { ...fileManifest(refs(5)), version: 1 as const };
    const d = decodeRoot(encodeManifest(m));
    expect(d.version === 1 && d.manifest).toEqual(m);
  });
});

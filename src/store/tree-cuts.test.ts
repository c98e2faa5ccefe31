import { randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../core/manifest.js';
import { DEFAULT_CHUNKER_PARAMS } from './chunker.js';
import { buildDraft } from './source.js';
import { segmentEnds } from './tree-cuts.js';
import { scanTree } from './tree-scan.js';

const file = (path: string, size: number): Entry => ({ type: 'file', path, size, mode: 0o644 }) as Entry;
const dir = (path: string): Entry => ({ type: 'dir', path, mode: 0o755 }) as Entry;

describe('segmentEnds', () => {
  it('puts every file of at least min bytes in its own segment and runs of small ones together', () => {
    const entries = [
      file('a', 10),
      file('b', 20),
      dir('d'),
      file('d/big', 100),
      file('d/c', 5),
      file('e', 0),
      file('f', 7),
    ];
    // a+b | big | c+f
    expect(segmentEnds(entries, 100)).toEqual([30, 130]);
  });

  it('gives the worked example of store-format §3.7', () => {
    const sizes = { a: 3000, b: 9000, c: 70_000, d: 0, e: 20_000, f: 500, g: 1200 };
    const entries = Object.entries(sizes).map(([p, n]) => file(p, n));
    expect(segmentEnds(entries, 16 * 1024)).toEqual([12_000, 82_000, 102_000]);
  });

  it('cuts between big neighbours once each, never at the start or end', () => {
    expect(segmentEnds([file('a', 100), file('b', 200), file('c', 100)], 100)).toEqual([100, 300]);
    expect(segmentEnds([file('a', 5), file('b', 6)], 100)).toEqual([]);
    expect(segmentEnds([], 100)).toEqual([]);
  });
});

describe('tree chunking at file boundaries', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ingot-cuts-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('a rewritten file brings only its own bytes, and every cut of the rule is a chunk boundary', async () => {
    const sizes = [300_000, 5_000, 7_000, 250_000, 40_000, 900];
    const contents = sizes.map((n) => randomFillSync(Buffer.alloc(n)));
    const chunks = async (root: string) => {
      const { entries } = await scanTree(root);
      const draft = await buildDraft({ kind: 'tree', root, entries });
      const starts = new Set<number>();
      let at = 0;
      for (const c of draft.chunks) {
        starts.add(at);
        at += c.length;
      }
      for (const end of segmentEnds(entries, DEFAULT_CHUNKER_PARAMS.min)) expect(starts.has(end)).toBe(true);
      return new Map(draft.chunks.flatMap((c) => (c.kind === 'data' ? [[c.digest, c.length] as const] : [])));
    };
    const write = async (root: string, rewritten?: number) => {
      await mkdir(root);
      for (const [i, c] of contents.entries()) {
        await writeFile(join(root, `f${i}`), i === rewritten ? randomFillSync(Buffer.alloc(c.length)) : c);
      }
    };
    await write(join(work, 'v1'));
    await write(join(work, 'v2'), 3);
    const v1 = await chunks(join(work, 'v1'));
    const v2 = await chunks(join(work, 'v2'));
    const freshBytes = [...v2].filter(([d]) => !v1.has(d)).reduce((n, [, len]) => n + len, 0);
    expect(freshBytes).toBe(250_000);
  });
});

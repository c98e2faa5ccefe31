import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamLength } from '../core/manifest.js';
import { draftToJson, parseDraft } from '../core/manifest-codec.js';
import { buildDraft, chunksOf } from './source.js';
import { scanTree } from './tree-scan.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ingot-source-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('chunksOf / buildDraft', () => {
  it('turns zero runs into holes and hashes data chunks', async () => {
    const path = join(work, 'f.img');
    const data = Buffer.concat([
      randomFillSync(Buffer.alloc(200_000)),
      Buffer.alloc(2_000_000),
      randomFillSync(Buffer.alloc(100_000)),
    ]);
    await writeFile(path, data);
    let rebuilt = Buffer.alloc(0);
    for await (const c of chunksOf({ kind: 'file', path })) {
      if (c.ref.kind === 'data') {
        expect(createHash('sha256').update(c.raw!).digest('hex')).toBe(c.ref.digest);
        rebuilt = Buffer.concat([rebuilt, c.raw!]);
      } else {
        expect(c.raw).toBeUndefined();
        rebuilt = Buffer.concat([rebuilt, Buffer.alloc(c.ref.length)]);
      }
    }
    expect(rebuilt.equals(data)).toBe(true);
    const draft = await buildDraft({ kind: 'file', path });
    expect(draft.chunks.filter((c) => c.kind === 'hole').length).toBeGreaterThanOrEqual(5);
    expect(streamLength(draft.chunks)).toBe(data.length);
    expect(parseDraft(draftToJson(draft))).toEqual(draft);
  });

  it('builds a valid tree draft and passes every chunk to onChunk', async () => {
    const root = join(work, 'tree');
    await (await import('node:fs/promises')).mkdir(root);
    await writeFile(join(root, 'a'), randomFillSync(Buffer.alloc(70_000)));
    await writeFile(join(root, 'b'), 'b'.repeat(100_000));
    const { entries } = await scanTree(root);
    let seen = 0;
    const draft = await buildDraft({ kind: 'tree', root, entries }, { onChunk: () => void seen++ });
    expect(seen).toBe(draft.chunks.length);
    expect(streamLength(draft.chunks)).toBe(170_000);
    expect(parseDraft(draftToJson(draft))).toEqual(draft);
  });

  it('handles an empty file and a missing one', async () => {
    const path = join(work, 'empty');
    await writeFile(path, '');
    expect(await buildDraft({ kind: 'file', path })).toMatchObject({ chunks: [], payload: { size: 0 } });
    await expect(buildDraft({ kind: 'file', path: join(work, 'nope') })).rejects.toMatchObject({
      code: 'PATH_NOT_FOUND',
    });
  });

  it('keeps memory flat on a large sparse-ish file', async () => {
    const path = join(work, 'big');
    const fh = await open(path, 'w');
    for (let i = 0; i < 64; i++)
      await fh.write(randomFillSync(Buffer.alloc(1 << 20)), 0, 1 << 20, i * (1 << 20));
    await fh.close();
    const before = process.memoryUsage().rss;
    let n = 0;
    for await (const c of chunksOf({ kind: 'file', path })) {
      n += c.ref.length;
      c.release?.();
    }
    expect(n).toBe(64 << 20);
    expect(process.memoryUsage().rss - before).toBeLessThan(48 << 20);
  });

  it('reads a file into pooled blocks again only once every chunk cut from them is released', async () => {
    const path = join(work, 'reuse.img');
    const data = randomFillSync(Buffer.alloc(40 * 2 ** 20 + 12345));
    await writeFile(path, data);
    const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    // Hold ~10 MiB of chunks unreleased while reading on: a block read into too early would
    // change their bytes under them.
    const held: { digest: string; raw: Buffer; release?: () => void }[] = [];
    let at = 0;
    let released = 0;
    for await (const c of chunksOf({ kind: 'file', path })) {
      if (c.ref.kind !== 'data' || !c.raw) throw new Error('random data has no holes');
      expect(c.raw.equals(data.subarray(at, at + c.ref.length))).toBe(true);
      at += c.ref.length;
      held.push({ digest: c.ref.digest, raw: c.raw, ...(c.release ? { release: c.release } : {}) });
      while (held.reduce((n, h) => n + h.raw.length, 0) > 10 * 2 ** 20) {
        const h = held.shift()!;
        expect(hex(h.raw)).toBe(h.digest);
        if (h.release) released++;
        h.release?.();
      }
    }
    for (const h of held) {
      expect(hex(h.raw)).toBe(h.digest);
      h.release?.();
    }
    expect(at).toBe(data.length);
    expect(released).toBeGreaterThan(100);
  });

  it('reads a tree into pooled blocks cut at file boundaries, each reused only once released', async () => {
    // Files of every size, many at least the chunker's minimum (each its own segment), so
    // blocks are cut in several pieces; chunks are held unreleased while reading goes on.
    const root = join(work, 'reuse-tree');
    await mkdir(root);
    const sizes = Array.from({ length: 2000 }, (_, i) => Math.floor(2 ** (((i * 7919) % 1000) / 60)));
    const files = sizes.map((n, i) => ({
      name: `f${String(i).padStart(4, '0')}`,
      data: randomFillSync(Buffer.alloc(n)),
    }));
    for (const f of files) await writeFile(join(root, f.name), f.data);
    const { entries } = await scanTree(root);
    const content = Buffer.concat(files.map((f) => f.data));
    const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const held: { digest: string; raw: Buffer; release?: () => void }[] = [];
    let at = 0;
    for await (const c of chunksOf({ kind: 'tree', root, entries })) {
      if (c.ref.kind !== 'data' || !c.raw) throw new Error('random data has no holes');
      held.push({ digest: c.ref.digest, raw: c.raw, ...(c.release ? { release: c.release } : {}) });
      at += c.ref.length;
      while (held.reduce((n, h) => n + h.raw.length, 0) > 10 * 2 ** 20) {
        const h = held.shift()!;
        expect(hex(h.raw)).toBe(h.digest);
        h.release?.();
      }
    }
    expect(at).toBe(content.length);
    expect(
      Buffer.concat(held.map((h) => h.raw)).equals(
        content.subarray(content.length - held.reduce((n, h) => n + h.raw.length, 0)),
      ),
    ).toBe(true);
    for (const h of held) expect(hex(h.raw)).toBe(h.digest);
    // Released at once: a block back in the pool too early is read into while chunks cut
    // from it are still being hashed, and their digests are not the content's.
    at = 0;
    for await (const c of chunksOf({ kind: 'tree', root, entries })) {
      if (c.ref.kind !== 'data') throw new Error('random data has no holes');
      expect(c.ref.digest).toBe(hex(content.subarray(at, at + c.ref.length)));
      at += c.ref.length;
      c.release?.();
    }
    expect(at).toBe(content.length);
  });
});

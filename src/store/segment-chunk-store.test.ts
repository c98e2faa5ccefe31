import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { openSharedStore, removeRoot, tempSharedRoot } from '../../test/support/shared-store.js';
import type { Digest } from '../core/manifest.js';
import { chunkStoreSuite, digestOf, expectCode, textChunk } from './chunk-store.suite.js';
import { PackChunkStore } from './pack-chunk-store.js';
import { segmentKey } from './paths.js';

const CHILD = join(import.meta.dirname, '../../test/support/segment-writer-child.ts');

describe.each(DIALECTS)('shared directory store on %s', (dialect) => {
  chunkStoreSuite(`SegmentChunkStore (directory, ${dialect})`, async () => {
    const db = await tempDatabase(dialect);
    const root = await tempSharedRoot();
    // Touch every time, as the port's suite expects after a 25 ms wait.
    const node = await openSharedStore(root, db.url, { touchResolutionMs: 0 });
    return {
      store: node.store,
      cleanup: async () => {
        await node.close();
        await removeRoot(root);
        await db.cleanup();
      },
    };
  });

  describe('between nodes', () => {
    let db: TempDatabase;
    let root: string;
    beforeEach(async () => {
      db = await tempDatabase(dialect);
      root = await tempSharedRoot();
    });
    afterEach(async () => {
      await removeRoot(root);
      await db.cleanup();
    });

    // Many nodes share a PostgreSQL catalog; a SQLite catalog is one host's, one process's.
    it.runIf(dialect === 'postgres')(
      'stores each chunk once when two processes write the same ones at once, and every node reads all',
      async () => {
        // Migrated once first: two processes migrating one new SQLite file at once race.
        await (await openSharedStore(root, db.url)).close();
        const children = ['a', 'b'].map((name) => startWriter(root, db.url, name, 96));
        await Promise.all(children.map((c) => c.ready));
        for (const c of children) c.go();
        const [a, b] = await Promise.all(children.map((c) => c.done));
        if (!a || !b) throw new Error('a writer did not report');
        const common = a.digests.filter((d) => b.digests.includes(d));
        expect(common).toHaveLength(48);
        // Every common chunk was stored by exactly one of them; each node's own ones by it.
        expect(a.stored + b.stored).toBe(96 + 48);
        expect(a.present + b.present).toBe(48);
        const reader = await openSharedStore(root, db.url);
        try {
          const listed: string[] = [];
          for await (const c of reader.store.list()) listed.push(c.digest);
          expect(listed.sort()).toEqual([...new Set([...a.digests, ...b.digests])].sort());
          for (const d of [...a.digests, ...b.digests])
            expect(digestOf(await reader.store.get(d as Digest))).toBe(d);
        } finally {
          await reader.close();
        }
      },
    );

    it('keeps a chunk that another node touched after gc looked, and deletes an untouched one', async () => {
      let t = Date.parse('2026-01-01T00:00:00Z');
      const clock = { now: () => new Date(t) };
      const gcNode = await openSharedStore(root, db.url, { clock });
      const uploader = await openSharedStore(root, db.url, { clock });
      try {
        const kept = randomBytes(3000);
        const dropped = randomBytes(3000);
        await gcNode.store.put(digestOf(kept), kept);
        await gcNode.store.put(digestOf(dropped), dropped);
        t += 3_600_000;
        const cutoff = t - 60_000;
        // An upload on the other node is told the chunk is present: that touches it.
        expect(await uploader.store.missing([digestOf(kept)])).toEqual([]);
        await gcNode.store.delete(digestOf(kept), { ifTouchedBefore: cutoff });
        await gcNode.store.delete(digestOf(dropped), { ifTouchedBefore: cutoff });
        expect(await uploader.store.has(digestOf(kept))).toBe(true);
        expect(await uploader.store.has(digestOf(dropped))).toBe(false);
        // Its segment is empty now, and removed once old enough to be no write in flight.
        t += 2 * 3_600_000;
        expect(await gcNode.store.compact()).toMatchObject({ segmentsRemoved: 1, segmentsRewritten: 0 });
        expect((await uploader.store.get(digestOf(kept))).equals(kept)).toBe(true);
      } finally {
        await gcNode.close();
        await uploader.close();
      }
    });

    it('takes in a staging pack store whole, and counts only the chunks new here', async () => {
      const node = await openSharedStore(root, db.url);
      const staging = await PackChunkStore.open(join(root, 'staging'));
      try {
        const known = randomBytes(2000);
        await node.store.put(digestOf(known), known);
        const chunks = [known, ...Array.from({ length: 70 }, (_, i) => textChunk(3000, `staged-${i}`))];
        for (const c of chunks) await staging.put(digestOf(c), c);
        expect(await node.store.adoptStore(staging)).toBe(70);
        for (const c of chunks) expect((await node.store.get(digestOf(c))).equals(c)).toBe(true);
        await expectCode(staging.has(digestOf(known)), 'UNAVAILABLE');
      } finally {
        await staging.close();
        await node.close();
      }
    });

    it('says CORRUPT with expected and found when a segment was damaged on the shared storage', async () => {
      const node = await openSharedStore(root, db.url);
      try {
        const b = textChunk(40_000);
        await node.store.put(digestOf(b), b);
        const [file] = await segmentFiles(root);
        if (!file) throw new Error('no segment written');
        const bytes = await readFile(file);
        bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
        await writeFile(file, bytes);
        const err = await expectCode(node.store.get(digestOf(b)), 'CORRUPT');
        expect(err.details).toMatchObject({ expected: digestOf(b) });
        await writeFile(file, bytes.subarray(0, 100));
        await expectCode(node.store.get(digestOf(b)), 'CORRUPT');
      } finally {
        await node.close();
      }
    });
  });
});

async function segmentFiles(root: string): Promise<string[]> {
  const dir = join(root, segmentKey(1), '..');
  return (await readdir(dir)).map((f) => join(dir, f));
}

interface WriterReport {
  stored: number;
  present: number;
  digests: string[];
}

function startWriter(root: string, url: string, node: string, count: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root, url, node, String(count)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`writer ${node} exited with ${code}`))),
  );
  exited.catch(() => {});
  const next = () => Promise.race([new Promise<string>((resolve) => lines.once('line', resolve)), exited]);
  const ready = next();
  const done = ready.then(async () => JSON.parse(await next()) as WriterReport);
  return { ready, done, go: () => child.stdin.write('go\n') };
}

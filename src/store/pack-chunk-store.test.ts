import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { dataBuffers } from './buffer-pool.js';
import { chunkStoreSuite, digestOf, expectCode, textChunk } from './chunk-store.suite.js';
import { PackChunkStore } from './pack-chunk-store.js';
import { encodeRecordHeader, RECORD_HEADER_SIZE } from './pack-file.js';
import { openStore, rawItem, tempRoot, verifyAll } from './pack-store.fixture.js';
import { zstdDecodedBound } from './pack-verify.js';
import { storePaths } from './paths.js';

chunkStoreSuite('PackChunkStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ingot-pack-suite-'));
  // Touch every time, as the port's suite expects after a 25 ms wait; the default
  // resolution has its own test below.
  const store = await PackChunkStore.open(join(dir, 'store'), { touchResolutionMs: 0 });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

async function packFiles(root: string): Promise<string[]> {
  return (await readdir(storePaths(root).packsDir)).filter((n) => n.endsWith('.pack')).sort();
}

describe('PackChunkStore', () => {
  it('names its files in one place', () => {
    const p = storePaths('/h/store');
    expect(p.packsDir).toBe('/h/store/packs-v1');
    expect(p.pack(7)).toBe('/h/store/packs-v1/00000007.pack');
    expect(p.index).toBe('/h/store/index-v1.sqlite');
    expect(p.packsLock).toBe('/h/store/packs-v1/lock.sqlite');
    expect(p.staging('ab12')).toBe('/h/store/tmp/staging-ab12');
  });

  it('refuses a second open of the same store', async () => {
    const root = await tempRoot();
    const store = await openStore(root);
    await expectCode(openStore(root), 'CONFLICT');
    await store.close();
    const again = await openStore(root);
    await again.close();
  });

  it('says CORRUPT, with expected and found, when a stored byte flips', async () => {
    const root = await tempRoot();
    let store = await openStore(root);
    const a = rawItem(5000);
    const b = rawItem(5000);
    await store.putManyEncoded([a, b]);
    await store.close();
    const [file] = await packFiles(root);
    const fh = await open(join(storePaths(root).packsDir, file as string), 'r+');
    const at = 16 + RECORD_HEADER_SIZE + 100; // inside a's payload
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, at);
    await fh.write(Buffer.from([(one[0] as number) ^ 0xff]), 0, 1, at);
    await fh.close();
    store = await openStore(root);
    const err = await expectCode(store.get(a.digest), 'CORRUPT');
    expect(err.details).toMatchObject({ expected: a.digest });
    expect(err.details?.found).toMatch(/^[0-9a-f]{64}$/);
    expect(err.details?.found).not.toBe(a.digest);
    expect((await store.get(b.digest)).equals(b.chunk.payload)).toBe(true);
    await store.close();
  });

  it('serves back-to-back records in runs, checking each header: a flipped header byte is CORRUPT', async () => {
    const root = await tempRoot();
    let store = await openStore(root);
    const items = Array.from({ length: 200 }, () => rawItem(40_000));
    await store.putManyEncoded(items);
    const digests = items.map((i) => i.digest);
    const back: Buffer[] = [];
    for await (const c of store.readStored(digests)) back.push(c.encoded.payload);
    expect(back.map((b, i) => b.equals(items[i]!.chunk.payload))).toEqual(items.map(() => true));
    await store.close();
    const [file] = await packFiles(root);
    const fh = await open(join(storePaths(root).packsDir, file as string), 'r+');
    const at = 16 + 7 * (RECORD_HEADER_SIZE + 40_000) + 10; // inside the 8th record's digest
    // Flip the byte there (a fixed value would be the same byte one time in 256).
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, at);
    await fh.write(Buffer.from([(byte[0] as number) ^ 0xff]), 0, 1, at);
    await fh.close();
    store = await openStore(root);
    const read = async () => {
      for await (const _ of store.readStored(digests));
    };
    const err = await expectCode(read(), 'CORRUPT');
    expect(err.details).toMatchObject({ expected: items[7]?.digest });
  });

  it('bounds zstd output from the block headers, never below the real size', async () => {
    for (const raw of [Buffer.alloc(0), textChunk(1000), textChunk(300_000), randomBytes(200_000)]) {
      const z = zstdCompressSync(raw);
      expect(zstdDecodedBound(z)).toBeGreaterThanOrEqual(raw.length);
    }
    expect(zstdDecodedBound(randomBytes(50))).toBeUndefined();
  });

  it('recovers from a torn tail: indexes complete verified records, truncates the rest', async () => {
    const root = await tempRoot();
    let store = await openStore(root);
    const committed = [rawItem(3000), rawItem(4000)];
    await store.putManyEncoded(committed);
    await store.close();
    const [file] = await packFiles(root);
    const path = join(storePaths(root).packsDir, file as string);
    const committedSize = (await stat(path)).size;

    // A complete record the index never heard of, then one whose bytes do not match its
    // digest, as a crash between fdatasync and the index commit would leave (the second
    // one stands for garbage), then half a record.
    const orphan = rawItem(2500);
    const header = (digest: Digest, length: number) =>
      encodeRecordHeader({
        digest: Buffer.from(digest, 'hex'),
        encoding: 0,
        rawLength: length,
        payloadLength: length,
      });
    await appendFile(path, Buffer.concat([header(orphan.digest, 2500), orphan.chunk.payload]));
    const endOfOrphan = (await stat(path)).size;
    const liar = rawItem(100);
    await appendFile(path, Buffer.concat([header(digestOf(randomBytes(4)), 100), liar.chunk.payload]));
    const torn = rawItem(9000);
    await appendFile(path, Buffer.concat([header(torn.digest, 9000), torn.chunk.payload.subarray(0, 4000)]));

    store = await openStore(root);
    expect(store.recovery).toMatchObject({ packsScanned: 1, recordsIndexed: 1 });
    expect(store.recovery.bytesTruncated).toBe(2 * RECORD_HEADER_SIZE + 100 + 4000);
    expect((await stat(path)).size).toBe(endOfOrphan);
    expect(endOfOrphan).toBeGreaterThan(committedSize);
    expect((await store.get(orphan.digest)).equals(orphan.chunk.payload)).toBe(true);
    expect(await store.has(torn.digest)).toBe(false);
    expect(await verifyAll(store)).toBe(3);

    // Writes go on at the recovered end.
    const next = rawItem(7000);
    expect((await store.putManyEncoded([next])).stored).toBe(1);
    await store.close();
    store = await openStore(root);
    expect(store.recovery.recordsIndexed).toBe(0);
    expect(await verifyAll(store)).toBe(4);
    await store.close();
  });

  it('survives a real kill -9 in the middle of writing', { timeout: 120_000 }, async () => {
    const root = await tempRoot();
    const acked = new Set<string>();
    for (let round = 0; round < 5; round++) {
      await runAndKill(root, acked, 20 + round * 10);
      const store = await openStore(root);
      console.log(
        `after kill ${round + 1}: ${JSON.stringify(store.recovery)}, ${acked.size} chunks acknowledged`,
      );
      const missing = await store.missing([...acked] as Digest[]);
      expect(missing).toEqual([]);
      const n = await verifyAll(store);
      expect(n).toBeGreaterThanOrEqual(acked.size);
      await store.close();
    }
    const store = await openStore(root);
    const fresh = [rawItem(50_000), rawItem(60_000)];
    expect((await store.putManyEncoded(fresh)).stored).toBe(2);
    for (const f of fresh) expect((await store.get(f.digest)).equals(f.chunk.payload)).toBe(true);
    expect(store.stats().packs).toBeGreaterThan(1);
    await store.close();
  });

  it('lends payloads from reused blocks: each is right until the next is asked for', async () => {
    const store = await openStore(await tempRoot());
    const items = Array.from({ length: 300 }, () => rawItem(60_000));
    await store.putManyEncoded(items);
    const before = dataBuffers.idleBlocks;
    const copies: Buffer[] = [];
    for await (const c of store.readStored(
      items.map((i) => i.digest),
      { lend: true },
    ))
      copies.push(Buffer.from(c.encoded.payload));
    // Buffer.equals, not toEqual: a deep compare of 18 MiB byte by byte took a minute.
    expect(copies.map((c, i) => c.equals(items[i]!.chunk.payload))).toEqual(items.map(() => true));
    // ~18 MiB in 4 MiB runs: the blocks came back for the next reader.
    expect(dataBuffers.idleBlocks).toBeGreaterThan(before);
  });

  it('compacts sparse packs: live chunks stay readable, the store shrinks', async () => {
    const root = await tempRoot();
    const store = await openStore(root, { maxPackBytes: 512 * 1024 });
    const items = Array.from({ length: 120 }, () => rawItem(16 * 1024));
    for (let i = 0; i < items.length; i += 10) await store.putManyEncoded(items.slice(i, i + 10));
    const kept = items.filter((_, i) => i % 4 === 0);
    for (const [i, it] of items.entries()) if (i % 4 !== 0) await store.delete(it.digest);
    const before = store.stats();
    expect(before.packs).toBeGreaterThan(3);
    expect(before.chunks).toBe(kept.length);

    // Reads race the compaction; none may fail.
    let stop = false;
    const reader = (async () => {
      let reads = 0;
      while (!stop) {
        const it = kept[reads % kept.length];
        if (!it) break;
        expect((await store.get(it.digest)).equals(it.chunk.payload)).toBe(true);
        reads++;
      }
      return reads;
    })();
    const r = await store.compact();
    stop = true;
    expect(await reader).toBeGreaterThan(0);

    expect(r.packsRewritten).toBeGreaterThan(0);
    expect(r.corrupt).toEqual([]);
    const after = store.stats();
    expect(after.chunks).toBe(kept.length);
    expect(after.storedBytes).toBeLessThan(before.storedBytes / 2);
    for (const it of kept) expect((await store.get(it.digest)).equals(it.chunk.payload)).toBe(true);
    for (const [i, it] of items.entries()) if (i % 4 !== 0) expect(await store.has(it.digest)).toBe(false);
    expect((await packFiles(root)).length).toBe(after.packs);
    // Copies may have filled and sealed the pack that was open, with its own dead bytes;
    // a second pass handles that, and then there is nothing left to do.
    await store.compact();
    expect((await store.compact()).packsRewritten).toBe(0);
    await store.close();

    const reopened = await openStore(root);
    expect(reopened.recovery.packsAdopted).toBe(0);
    expect(await verifyAll(reopened)).toBe(kept.length);
    await reopened.close();
  });

  it('reopens a 32k-chunk store and answers missing() on all of it in one call', async () => {
    // Speed is measured by bench/pack-store.ts, not asserted here.
    const root = await tempRoot();
    let store = await openStore(root);
    const digests: Digest[] = [];
    for (let i = 0; i < 64; i++) {
      const batch = Array.from({ length: 500 }, () => rawItem(64));
      await store.putManyEncoded(batch);
      for (const b of batch) digests.push(b.digest);
    }
    await store.close();
    store = await openStore(root);
    const absent = digestOf(randomBytes(9));
    const missing = await store.missing([...digests, absent]);
    expect(missing).toEqual([absent]);
    expect(store.stats().chunks).toBe(32_000);
    await store.close();
  });
});

/** Runs the crash child until it has acknowledged `batches` batches, then SIGKILLs it. */
async function runAndKill(root: string, acked: Set<string>, batches: number): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, '..', '..', 'test', 'support', 'pack-crash-child.ts'),
      root,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  let buffered = '';
  let count = 0;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('ack ')) continue;
        for (const d of line.slice(4).split(' ')) acked.add(d);
        if (++count === batches) {
          // A random moment a little later, so the kill lands anywhere in an append.
          setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, Math.random() * 15);
        }
      }
    });
    void exited.then(() => reject(new Error(`crash child exited early: ${stderr}`)));
  });
  expect(await exited).toBe('SIGKILL');
}

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { dataBuffers } from './buffer-pool.js';
import { chunkStoreSuite, digestOf, expectCode, textChunk } from './chunk-store.suite.js';
import { PackChunkStore, type PackChunkStoreOptions, TOUCH_RESOLUTION_MS } from './pack-chunk-store.js';
import { encodeRecordHeader, MAX_RAW_LENGTH, RECORD_HEADER_SIZE } from './pack-file.js';
import { zstdDecodedBound } from './pack-verify.js';
import { storePaths } from './paths.js';

const dirs: string[] = [];
const opened: PackChunkStore[] = [];
async function tempRoot(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ingot-pack-'));
  dirs.push(dir);
  return join(dir, 'store');
}
/** Opens a store that is closed after the test even when the test fails. */
async function openStore(root: string, opts?: PackChunkStoreOptions): Promise<PackChunkStore> {
  const store = await PackChunkStore.open(root, opts);
  opened.push(store);
  return store;
}
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

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

function rawItem(size: number): { digest: Digest; chunk: { encoding: 'raw'; payload: Buffer } } {
  const payload = randomBytes(size);
  return { digest: digestOf(payload), chunk: { encoding: 'raw', payload } };
}

describe('PackChunkStore.putManyHashed', () => {
  it('stores chunks hashed by the caller once each, and still verifies them when read', async () => {
    const store = await openStore(await tempRoot());
    const a = rawItem(70_000);
    const b = rawItem(1000);
    const hashed = [a, b, a].map((i) => ({ ...i, rawLength: i.chunk.payload.length }));
    expect(await store.putManyHashed(hashed)).toMatchObject({ stored: 2, present: 1, rejected: [] });
    expect((await store.get(a.digest)).equals(a.chunk.payload)).toBe(true);
    expect(await store.missing([a.digest, b.digest])).toEqual([]);
    // A wrong digest is the caller's bug, not a peer's lie; the read path still catches it.
    const wrong = { digest: digestOf(Buffer.from('other')), chunk: b.chunk, rawLength: 1000 };
    await store.putManyHashed([wrong]);
    await expectCode(store.get(wrong.digest), 'CORRUPT');
  });

  it('refuses chunks past the store bounds and writes nothing of them', async () => {
    const store = await openStore(await tempRoot());
    const big = rawItem(16);
    const r = await store.putManyHashed([{ ...big, rawLength: MAX_RAW_LENGTH + 1 }]);
    expect(r).toMatchObject({ stored: 0, rejected: [{ digest: big.digest }] });
    expect(await store.has(big.digest)).toBe(false);
  });
});

async function packFiles(root: string): Promise<string[]> {
  return (await readdir(storePaths(root).packsDir)).filter((n) => n.endsWith('.pack')).sort();
}

/** Every indexed chunk reads back verified; returns how many there are. */
async function verifyAll(store: PackChunkStore): Promise<number> {
  let n = 0;
  for await (const c of store.list()) {
    expect(digestOf(await store.get(c.digest))).toBe(c.digest);
    n++;
  }
  return n;
}

describe('PackChunkStore', () => {
  it('names its files in one place', () => {
    const p = storePaths('/h/store');
    expect(p.packsDir).toBe('/h/store/packs-v1');
    expect(p.pack(7)).toBe('/h/store/packs-v1/00000007.pack');
    expect(p.index).toBe('/h/store/index-v1.sqlite');
    expect(p.packsLock).toBe('/h/store/packs-v1/LOCK');
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
    expect(back).toEqual(items.map((i) => i.chunk.payload));
    await store.close();
    const [file] = await packFiles(root);
    const fh = await open(join(storePaths(root).packsDir, file as string), 'r+');
    const at = 16 + 7 * (RECORD_HEADER_SIZE + 40_000) + 10; // inside the 8th record's digest
    await fh.write(Buffer.from([0x5a]), 0, 1, at);
    await fh.close();
    store = await openStore(root);
    const read = async () => {
      for await (const _ of store.readStored(digests));
    };
    const err = await expectCode(read(), 'CORRUPT');
    expect(err.details).toMatchObject({ expected: items[7]?.digest });
  });

  it('rejects chunks over 16 MiB, also a small zstd payload that would inflate past it', async () => {
    const root = await tempRoot();
    const store = await openStore(root);
    const big = Buffer.alloc(MAX_RAW_LENGTH + 1, 1);
    await expectCode(store.put(digestOf(big), big), 'PAYLOAD_TOO_LARGE');
    const bomb = zstdCompressSync(Buffer.alloc(64 * 2 ** 20));
    expect(bomb.length).toBeLessThan(100_000);
    const bombDigest = digestOf(Buffer.alloc(64 * 2 ** 20));
    const r = await store.putManyEncoded([
      { digest: bombDigest, chunk: { encoding: 'zstd', payload: bomb } },
    ]);
    expect(r.stored).toBe(0);
    expect(r.rejected[0]?.found).toMatch(/zstd payload of up to/);
    await expectCode(store.putEncoded(bombDigest, { encoding: 'zstd', payload: bomb }), 'PAYLOAD_TOO_LARGE');
    await expectCode(
      store.putEncoded(bombDigest, { encoding: 'zstd', payload: randomBytes(100) }),
      'DIGEST_MISMATCH',
    );
    expect(store.stats().chunks).toBe(0);
    await store.close();
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

  it('rewrites touched_at only when it is older than the touch resolution', async () => {
    const root = await tempRoot();
    let now = 1_000_000;
    const store = await openStore(root, { clock: { now: () => new Date(now) } });
    const a = rawItem(100);
    await store.putManyEncoded([a]);
    expect((await store.stat(a.digest))?.mtimeMs).toBe(1_000_000);
    now += TOUCH_RESOLUTION_MS - 1;
    expect(await store.missing([a.digest])).toEqual([]);
    expect((await store.putManyEncoded([a])).present).toBe(1);
    expect((await store.stat(a.digest))?.mtimeMs).toBe(1_000_000);
    now += 2;
    expect(await store.missing([a.digest])).toEqual([]);
    expect((await store.stat(a.digest))?.mtimeMs).toBe(now);
    now += TOUCH_RESOLUTION_MS + 1;
    expect((await store.putManyEncoded([a])).present).toBe(1);
    expect((await store.stat(a.digest))?.mtimeMs).toBe(now);
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
    expect(copies).toEqual(items.map((i) => i.chunk.payload));
    // ~18 MiB in 4 MiB runs: the blocks came back for the next reader.
    expect(dataBuffers.idleBlocks).toBeGreaterThan(before);
  });

  it('tells a writer its buffers are free before the chunks are durable, and lists them only then', async () => {
    const store = await openStore(await tempRoot());
    const items = Array.from({ length: 20 }, () => rawItem(50_000));
    const events: string[] = [];
    const put = store.putManyEncoded(items, { onWritten: () => events.push('written') });
    const r = await put.then((x) => {
      events.push('durable');
      return x;
    });
    expect(events).toEqual(['written', 'durable']);
    expect(r).toMatchObject({ stored: 20, present: 0, rejected: [] });
    expect(await store.missing(items.map((i) => i.digest))).toEqual([]);
    // A batch with nothing new still says so, at once.
    let called = false;
    expect(await store.putManyEncoded(items, { onWritten: () => (called = true) })).toMatchObject({
      stored: 0,
      present: 20,
    });
    expect(called).toBe(true);
  });

  it('answers a batch that names chunks another is still writing only once those are durable', async () => {
    const store = await openStore(await tempRoot());
    const items = Array.from({ length: 30 }, () => rawItem(100_000));
    const order: string[] = [];
    const second = Promise.withResolvers<Promise<unknown>>();
    const first = store
      .putManyEncoded(items, {
        onWritten: () =>
          second.resolve(store.putManyEncoded(items).then((r) => order.push(`second ${r.present}`))),
      })
      .then((r) => order.push(`first ${r.stored}`));
    await Promise.all([first, await second.promise]);
    expect(order).toEqual(['first 30', 'second 30']);
    expect(store.stats().chunks).toBe(30);
  });

  it('group-commits concurrent batches and counts each chunk once', async () => {
    const root = await tempRoot();
    const store = await openStore(root, { maxPackBytes: 256 * 1024 });
    const pool = Array.from({ length: 50 }, () => rawItem(8 * 1024));
    const batches = Array.from({ length: 12 }, (_, b) =>
      Array.from({ length: 20 }, (_, i) => pool[(b * 7 + i * 3) % 50]),
    );
    const results = await Promise.all(batches.map((b) => store.putManyEncoded(b as typeof pool)));
    const distinct = new Set(batches.flat().map((i) => i?.digest));
    expect(results.reduce((n, r) => n + r.stored, 0)).toBe(distinct.size);
    expect(results.reduce((n, r) => n + r.stored + r.present, 0)).toBe(12 * 20);
    expect(results.reduce((n, r) => n + r.storedBytes, 0)).toBe(distinct.size * 8 * 1024);
    expect(store.stats().chunks).toBe(distinct.size);
    expect(await verifyAll(store)).toBe(distinct.size);
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

import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../../test/support/databases.js';
import { makeRichTree, pseudoRandom } from '../../../test/support/trees.js';
import { CatalogService } from '../../catalog/catalog.service.js';
import { ImageService } from '../../catalog/image.service.js';
import { type Db, openDatabase } from '../../db/database.js';
import { loadOrCreateIdentity } from '../../federation/identity.js';
import { DirectoryManifests } from '../../store/directory-manifests.js';
import { ManifestStore } from '../../store/manifest-store.js';
import { PackChunkStore } from '../../store/pack-chunk-store.js';
import { buildDraft } from '../../store/source.js';
import { scanTree } from '../../store/tree-scan.js';
import { JobQueue } from '../job-queue.js';
import type { JobContext } from '../job-runner.js';
import { type LocalIngestRequest, LocalIngestService } from './ingest.job.js';

const ctx = (signal = new AbortController().signal): JobContext & { seen: number[] } => {
  const seen: number[] = [];
  return { seen, signal, progress: (done) => void seen.push(done) };
};

describe.each(DIALECTS)('local ingest (%s)', (dialect) => {
  let work: string;
  let temp: TempDatabase;
  let db: Db;
  let store: PackChunkStore;
  let catalog: CatalogService;
  let images: ImageService;
  let jobs: JobQueue;
  let ingest: LocalIngestService;

  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'ingot-local-ingest-'));
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    store = await PackChunkStore.open(join(work, 'store'));
    catalog = new CatalogService(db);
    const identity = await loadOrCreateIdentity(join(work, 'key'), join(work, 'key.pub'));
    const manifests = new ManifestStore(new DirectoryManifests(join(work, 'store')), store);
    images = new ImageService({ origin: 'HQ', catalog, store, manifests, identity });
    jobs = new JobQueue(db);
    ingest = new LocalIngestService({ images, catalog, store, jobs, wake: () => {}, host: 'h1' });
  });
  afterEach(async () => {
    await store.close();
    await db.close();
    await temp.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  const manifestOf = async (name: string) => (await images.manifest(name)).manifest;

  it('stores a file once and lists it with the draft the CLI would have built', async () => {
    const file = join(work, 'disk.img');
    writeFileSync(file, Buffer.concat([pseudoRandom('a', 3_000_000), Buffer.alloc(1_000_000)]));
    const c = ctx();
    const first = await ingest.run({ name: 'DISK', path: file, kind: 'file' }, c);
    const draft = await buildDraft({ kind: 'file', path: file });
    const m = await manifestOf('DISK');
    expect({ payload: m.payload, chunks: m.chunks }).toEqual(draft);
    expect(first.image).toMatchObject({
      name: 'DISK',
      kind: 'file',
      imageType: 'DISKIMAGE',
      state: 'PUBLISHED',
    });
    expect(first.upload.holeBytes).toBeGreaterThan(0);
    expect(first.upload.sentRawBytes + first.upload.holeBytes).toBe(4_000_000);
    expect(c.seen.at(-1)).toBe(4_000_000);

    const again = await ingest.run({ name: 'DISK2', path: file, kind: 'file', state: 'TESTABLE' }, ctx());
    expect(again.upload).toMatchObject({ sentChunks: 0, knownBytes: first.upload.sentRawBytes });
    expect(again.image.state).toBe('TESTABLE');
  });

  it('ingests a tree, and finds the working copy it was made from as its parent', async () => {
    const root = join(work, 'home');
    makeRichTree(root);
    await ingest.run({ name: 'HOME_1', path: root, kind: 'tree' }, ctx());
    const { entries } = await scanTree(root);
    const m = await manifestOf('HOME_1');
    expect({ payload: m.payload, chunks: m.chunks }).toEqual(
      await buildDraft({ kind: 'tree', root, entries }),
    );
    for (const ref of m.chunks)
      if (ref.kind === 'data') expect((await store.get(ref.digest)).length).toBe(ref.length);

    await catalog.registerWorkingCopy('HOME_1', 'h1', root);
    writeFileSync(join(root, 'etc', 'patch'), 'one more file\n');
    await catalog.createSeries('HOMES');
    const second = await ingest.run({ name: 'HOME_2', path: root, kind: 'tree', series: 'HOMES' }, ctx());
    expect(second.image.parentName).toBe('HOME_1');
    expect((await catalog.showSeries('HOMES')).images.map((i) => i.name)).toEqual(['HOME_2']);
  });

  it('refuses bad requests before queueing anything', async () => {
    const root = join(work, 'tree');
    mkdirSync(root);
    const file = join(work, 'f');
    writeFileSync(file, 'x');
    await ingest.run({ name: 'TAKEN', path: file, kind: 'file' }, ctx());
    const refusals: [Partial<LocalIngestRequest>, string][] = [
      [{ path: 'relative/dir' }, 'INVALID_ARGUMENT'],
      [{ path: join(work, 'nope') }, 'PATH_NOT_FOUND'],
      [{ path: file }, 'INVALID_ARGUMENT'],
      [{ name: 'TAKEN' }, 'ALREADY_EXISTS'],
      [{ name: 'bad name' }, 'INVALID_NAME'],
      [{ from: 'NO_SUCH' }, 'NOT_FOUND'],
      [{ type: 'DISKIMAGE' }, 'INVALID_ARGUMENT'],
      [{ series: 'NO_SUCH' }, 'NOT_FOUND'],
      [{ state: 'SHINY' }, 'INVALID_ARGUMENT'],
    ];
    for (const [change, code] of refusals) {
      await expect(ingest.start({ name: 'NEW', path: root, kind: 'tree', ...change })).rejects.toMatchObject({
        code,
      });
    }
    expect(await jobs.list()).toEqual([]);
    const job = await ingest.start({ name: 'NEW', path: root, kind: 'tree' });
    expect(job).toMatchObject({ kind: 'ingest', state: 'queued' });
    await expect(ingest.start({ name: 'NEW', path: root, kind: 'tree' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('lists nothing when stopped halfway, and the retry stores only the rest', async () => {
    const file = join(work, 'big.img');
    writeFileSync(file, randomFillSync(Buffer.alloc(80 * 1024 * 1024)));
    const ac = new AbortController();
    const c: JobContext = {
      signal: ac.signal,
      progress: (done) => {
        if (done > 0) ac.abort(new Error('stopped'));
      },
    };
    await expect(ingest.run({ name: 'BIG', path: file, kind: 'file' }, c)).rejects.toThrow('stopped');
    expect(await catalog.listImages()).toEqual([]);
    const retry = await ingest.run({ name: 'BIG', path: file, kind: 'file' }, ctx());
    expect(retry.upload.knownBytes).toBeGreaterThan(0);
    expect(retry.upload.sentChunks).toBeLessThan(retry.upload.uniqueChunks);
  });
});

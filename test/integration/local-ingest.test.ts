import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { makeRichTree, pseudoRandom } from '../support/trees.js';

/**
 * `ingot image add` against the server of its own INGOT_HOME hands the server the path;
 * `--upload` keeps the have/want upload. Both must make the same manifest content.
 */
interface AddJson {
  name: string;
  digest: string;
  upload: { uniqueChunks: number; sentChunks: number; knownBytes: number; sentRawBytes: number };
}
interface JobJson {
  id: number;
  kind: string;
  state: string;
  attempts: number;
  progressDone: number;
  progressTotal: number;
  error: string | null;
  payload: { name: string };
  result: { upload: AddJson['upload'] } | null;
}

describe('local ingest through a real server', () => {
  let server: IngotServer;
  const work = tempDir('ingot-local-');

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.token}` } });
    return (await res.json()) as T;
  };
  const content = async (name: string) => {
    const m = await api<{ payload: unknown; chunks: unknown }>(`/api/v1/images/${name}/manifest`);
    return { payload: m.payload, chunks: m.chunks };
  };
  const names = async () => (await server.json<{ name: string }[]>(['image', 'list'])).map((i) => i.name);
  const ingestJobs = async () => (await api<{ jobs: JobJson[] }>('/api/v1/jobs?kind=ingest')).jobs;

  beforeAll(async () => {
    server = await startIngot({ name: 'LOCAL' });
  });
  afterAll(() => server?.stop());

  it('adds a tree read by the server, the same content as the upload makes', async () => {
    const src = join(work, 'home');
    makeRichTree(src);
    const local = await server.json<AddJson>(['image', 'add', 'TREE_L', '--path', src]);
    const uploaded = await server.json<AddJson>(['image', 'add', 'TREE_U', '--path', src, '--upload']);
    expect(await content('TREE_L')).toEqual(await content('TREE_U'));
    expect(local.upload.sentChunks).toBe(local.upload.uniqueChunks);
    expect(uploaded.upload.sentChunks).toBe(0);
    const [job] = await ingestJobs();
    expect(job).toMatchObject({ kind: 'ingest', state: 'succeeded', attempts: 1 });
    expect(job?.progressDone).toBe(job?.progressTotal);
    expect(job?.progressTotal).toBeGreaterThan(0);
  });

  it('adds a file read by the server, the same content as the upload makes', async () => {
    const file = join(work, 'disk.img');
    const fd = openSync(file, 'w');
    writeSync(fd, pseudoRandom('disk', 3_000_000), 0, 3_000_000, 0);
    writeSync(fd, pseudoRandom('tail', 100_000), 0, 100_000, 9_000_000);
    closeSync(fd);
    const uploaded = await server.json<AddJson>(['image', 'add', 'FILE_U', '--file', file, '--upload']);
    const local = await server.cli(['image', 'add', 'FILE_L', '--file', file]);
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout).toMatch(/^added FILE_L \(file, .* already stored\) digest [0-9a-f]{64}\n$/);
    expect(await content('FILE_L')).toEqual(await content('FILE_U'));
    expect(uploaded.upload.sentChunks).toBe(uploaded.upload.uniqueChunks);
    expect((await server.cli(['image', 'verify', 'FILE_L'])).code).toBe(0);
  });

  it('holds a job answer until the job changes (?wait), and answers a finished job at once', async () => {
    const auth = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
    const res = await fetch(`${server.url}/api/v1/gc`, { method: 'POST', headers: auth, body: '{}' });
    const queued = (await res.json()) as JobJson & { updatedAt: string };
    let job = queued;
    let asks = 0;
    const started = Date.now();
    while (!['succeeded', 'failed'].includes(job.state)) {
      asks++;
      const q = `wait=20&since=${encodeURIComponent(job.updatedAt)}`;
      const next = await api<JobJson & { updatedAt: string }>(`/api/v1/jobs/${queued.id}?${q}`);
      // Held until it differs: never the same answer twice.
      expect(next.updatedAt === job.updatedAt && next.state === job.state).toBe(false);
      job = next;
    }
    expect(job.state).toBe('succeeded');
    expect(asks).toBeLessThanOrEqual(4);
    expect(Date.now() - started).toBeLessThan(15_000);
    const atOnce = Date.now();
    await api(`/api/v1/jobs/${queued.id}?wait=20&since=${encodeURIComponent(job.updatedAt)}`);
    expect(Date.now() - atOnce).toBeLessThan(5_000);
  });

  it('refuses a path the server cannot read, and a taken name before reading, changing nothing', async () => {
    const before = { images: await names(), jobs: (await ingestJobs()).length };
    const missing = await server.cli(['image', 'add', 'NOPE', '--file', join(work, 'no-such.img')]);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toContain('PATH_NOT_FOUND');
    expect(missing.stderr).toContain('own permissions');
    const notADir = await server.cli(['image', 'add', 'NOPE', '--path', join(work, 'disk.img')]);
    expect(notADir.code).toBe(2);
    expect(notADir.stderr).toContain('is not a directory');
    // The name is checked first: the path is never even looked at.
    const taken = await server.cli(['image', 'add', 'FILE_L', '--file', join(work, 'no-such.img')]);
    expect(taken.code).toBe(4);
    expect(taken.stderr).toContain('ALREADY_EXISTS');
    expect({ images: await names(), jobs: (await ingestJobs()).length }).toEqual(before);
  });

  it('survives kill -9 mid-ingest: nothing listed meanwhile, the job resumes reusing stored chunks', async () => {
    // Large enough that the ingest is still reading when its first heartbeat shows progress
    // (512 MiB could finish in between on a quiet machine); written in blocks of 64 MiB.
    const big = join(work, 'big.img');
    const fd = openSync(big, 'w');
    const block = Buffer.alloc(64 * 1024 * 1024);
    for (let k = 0; k < 24; k++) writeSync(fd, randomFillSync(block));
    closeSync(fd);
    const add = spawn(process.execPath, [BIN, 'image', 'add', 'BIG', '--file', big], {
      env: { ...process.env, INGOT_HOME: server.home },
      stdio: 'ignore',
    });
    const addDone = new Promise<number>((r) => add.on('exit', (code) => r(code ?? -1)));
    // Progress is written with the job's heartbeat: its first figure says reading is under way.
    let job: JobJson | undefined;
    for (;;) {
      job = (await ingestJobs()).find((j) => j.payload.name === 'BIG');
      if (job && job.progressDone > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(job.state).toBe('running');
    expect(job.progressDone).toBeLessThan(job.progressTotal);
    expect(await names()).not.toContain('BIG');
    await server.kill9();
    expect(await addDone).not.toBe(0);

    server = await server.restart();
    let after: JobJson;
    for (;;) {
      after = await api<JobJson>(`/api/v1/jobs/${job.id}`);
      if (after.state === 'succeeded' || after.state === 'failed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(after.state, after.error ?? '').toBe('succeeded');
    expect(after.attempts).toBe(2);
    expect(after.result?.upload.knownBytes).toBeGreaterThan(0);
    expect(await names()).toContain('BIG');
    expect((await server.cli(['image', 'verify', 'BIG'])).code).toBe(0);
    const again = await server.cli(['image', 'add', 'BIG', '--file', big]);
    expect(again.stderr).toContain('ALREADY_EXISTS');
  });
});

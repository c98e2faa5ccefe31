import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkRef, Digest, ManifestDraft } from '../../src/core/manifest.js';
import { draftToJson } from '../../src/core/manifest-codec.js';
import { encodeFrames } from '../../src/store/frame-codec.js';
import { type IngotServer, runCli, startIngot, tempDir } from '../support/ingot.js';
import { pseudoRandom } from '../support/trees.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex') as Digest;
const T = { sec: 1_700_000_000, nsec: 0 };

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of it) parts.push(b);
  return Buffer.concat(parts);
}

describe('bad input changes nothing and says why', () => {
  let server: IngotServer;
  const work = tempDir('ingot-bad-');

  async function api(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
    opts: { token?: string | null; type?: string } = {},
  ) {
    const token = opts.token === undefined ? server.token : opts.token;
    const res = await request(`${server.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': opts.type ?? 'application/json' }),
      },
      ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
  }

  /** Uploads one chunk as a framed stream; returns the HTTP status. */
  async function upload(bytes: Buffer): Promise<number> {
    const frame = {
      digest: sha(bytes),
      encoded: { encoding: 'raw' as const, payload: bytes },
      rawLength: bytes.length,
    };
    const stream = await collect(encodeFrames([frame]));
    return (await api('PUT', '/api/v1/chunks', stream, { type: 'application/vnd.ingot.chunks' })).status;
  }

  const listNames = async () => (await server.json<{ name: string }[]>(['image', 'list'])).map((i) => i.name);
  const missing = async (digests: Digest[]) =>
    (await api('POST', '/api/v1/chunks/missing', { digests })).body.missing;

  function fileDraft(chunks: ChunkRef[]): unknown {
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const d: ManifestDraft = { payload: { kind: 'file', size, mode: 0o644 }, chunks };
    return draftToJson(d);
  }

  beforeAll(async () => {
    server = await startIngot({ name: 'BAD_INPUT' });
    mkdirSync(join(work, 'src'));
    writeFileSync(join(work, 'src', 'a.txt'), 'hello\n');
  });
  afterAll(() => server?.stop());

  it('refuses a name that breaks the rule', async () => {
    const r = await server.cli(['image', 'add', '1bad/name', '--path', join(work, 'src')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('INVALID_NAME');
    expect(r.stderr).toContain('hint:');
    expect(await listNames()).toEqual([]);
  });

  it('refuses a duplicate name and keeps the first image', async () => {
    expect((await server.cli(['image', 'add', 'FIRST', '--path', join(work, 'src')])).code).toBe(0);
    const before = await server.json<{ digest: string }>(['image', 'show', 'FIRST']);
    writeFileSync(join(work, 'other.bin'), 'other');
    const r = await server.cli(['image', 'add', 'FIRST', '--file', join(work, 'other.bin')]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('ALREADY_EXISTS');
    expect((await server.json<{ digest: string }>(['image', 'show', 'FIRST'])).digest).toBe(before.digest);
    // The server refuses it too, not only the CLI's early check.
    const direct = await api('POST', '/api/v1/images', { name: 'FIRST', draft: fileDraft([]) });
    expect(direct.status).toBe(409);
    expect(direct.body.code).toBe('ALREADY_EXISTS');
  });

  it('refuses a path that does not exist', async () => {
    const r = await server.cli(['image', 'add', 'NOPE', '--path', join(work, 'no-such-dir')]);
    expect(r.code).toBe(66);
    expect(r.stderr).toContain('PATH_NOT_FOUND');
    expect(await listNames()).toEqual(['FIRST']);
  });

  it('refuses chunk bytes that do not match their digest, storing nothing of them', async () => {
    const good = pseudoRandom('good', 5000);
    const bad = pseudoRandom('bad', 5000);
    const claimed = sha(pseudoRandom('claimed', 5000));
    const stream = await collect(
      encodeFrames([
        { digest: sha(good), encoded: { encoding: 'raw', payload: good }, rawLength: good.length },
        { digest: claimed, encoded: { encoding: 'raw', payload: bad }, rawLength: bad.length },
      ]),
    );
    const r = await api('PUT', '/api/v1/chunks', stream, { type: 'application/vnd.ingot.chunks' });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('DIGEST_MISMATCH');
    expect(await missing([claimed, sha(bad)])).toEqual([claimed, sha(bad)]);
    // The verified chunk of the same stream was kept for the retry.
    expect(await missing([sha(good)])).toEqual([]);
  });

  it('keeps the whole chunks of a truncated upload and refuses the rest', async () => {
    const a = pseudoRandom('trunc-a', 70_000);
    const b = pseudoRandom('trunc-b', 70_000);
    const stream = await collect(
      encodeFrames([
        { digest: sha(a), encoded: { encoding: 'raw', payload: a }, rawLength: a.length },
        { digest: sha(b), encoded: { encoding: 'raw', payload: b }, rawLength: b.length },
      ]),
    );
    const cut = stream.subarray(0, stream.length - 30_000);
    const r = await api('PUT', '/api/v1/chunks', cut, { type: 'application/vnd.ingot.chunks' });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('TRUNCATED');
    expect(await missing([sha(a), sha(b)])).toEqual([sha(b)]);
  });

  it('refuses a manifest that names a missing chunk, listing nothing', async () => {
    const ghost = sha(Buffer.from('never uploaded'));
    const r = await api('POST', '/api/v1/images', {
      name: 'GHOST',
      draft: fileDraft([{ kind: 'data', digest: ghost, length: 14 }]),
    });
    expect(r.status).toBe(409);
    expect(r.body.code).toBe('MISSING_CHUNKS');
    expect(await listNames()).toEqual(['FIRST']);
  });

  it('refuses a manifest that gives a stored chunk the wrong length', async () => {
    const bytes = pseudoRandom('len', 9000);
    expect(await upload(bytes)).toBe(200);
    const r = await api('POST', '/api/v1/images', {
      name: 'WRONG_LENGTH',
      draft: fileDraft([{ kind: 'data', digest: sha(bytes), length: 8000 }]),
    });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('INVALID_MANIFEST');
    expect(await listNames()).toEqual(['FIRST']);
  });

  it('spares uploaded but uncommitted chunks from gc, so the ingest can still commit', async () => {
    const bytes = pseudoRandom('in-flight', 20_000);
    expect(await upload(bytes)).toBe(200);
    // Default grace: the young unreferenced chunk stays.
    const gc = await server.json<{ result: { sparedRecent: number; deletedChunks: number } }>(['gc']);
    expect(gc.result.sparedRecent).toBeGreaterThan(0);
    expect(await missing([sha(bytes)])).toEqual([]);
    const r = await api('POST', '/api/v1/images', {
      name: 'IN_FLIGHT',
      draft: fileDraft([{ kind: 'data', digest: sha(bytes), length: bytes.length }]),
    });
    expect(r.status).toBe(201);
    expect((await server.cli(['image', 'verify', 'IN_FLIGHT'])).code).toBe(0);
    expect((await server.cli(['image', 'delete', 'IN_FLIGHT'])).code).toBe(0);
  });

  it.each([
    ['a path with ..', 'etc/../../escape'],
    ['an absolute path', '/etc/passwd'],
  ])('refuses a manifest holding %s', async (_label, path) => {
    const draft = draftToJson({
      payload: {
        kind: 'tree',
        entries: [
          { type: 'dir', path: '.', mode: 0o755, uid: 0, gid: 0, mtime: T },
          { type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtime: T, size: 0 },
        ],
      },
      chunks: [],
    } as ManifestDraft);
    const r = await api('POST', '/api/v1/images', { name: 'ESCAPE', draft });
    expect(r.status).toBe(400);
    expect(['UNSAFE_PATH', 'INVALID_MANIFEST']).toContain(r.body.code);
    expect(await listNames()).toEqual(['FIRST']);
  });

  it('refuses a manifest that would write through a symlink on deploy', async () => {
    const draft = draftToJson({
      payload: {
        kind: 'tree',
        entries: [
          { type: 'dir', path: '.', mode: 0o755, uid: 0, gid: 0, mtime: T },
          { type: 'symlink', path: 'etc', mode: 0o777, uid: 0, gid: 0, mtime: T, target: '/etc' },
          { type: 'file', path: 'etc/cron.d', mode: 0o644, uid: 0, gid: 0, mtime: T, size: 0 },
        ],
      },
      chunks: [],
    } as ManifestDraft);
    const r = await api('POST', '/api/v1/images', { name: 'SYMLINK_ESCAPE', draft });
    expect(r.status).toBe(400);
    expect(['UNSAFE_PATH', 'INVALID_MANIFEST']).toContain(r.body.code);
    expect(await listNames()).toEqual(['FIRST']);
  });

  it('refuses a missing or wrong token for every change, with exit code 77', async () => {
    expect((await api('POST', '/api/v1/series', { name: 'S1' }, { token: null })).status).toBe(401);
    expect((await api('POST', '/api/v1/series', { name: 'S1' }, { token: 'wrong' })).status).toBe(401);
    const r = await runCli(['series', 'add', 'S1'], {
      INGOT_HOME: tempDir(),
      INGOT_SERVER: server.url,
      INGOT_TOKEN: 'nope',
    });
    expect(r.code).toBe(77);
    expect(r.stderr).toContain('UNAUTHENTICATED');
    expect(await server.json<unknown[]>(['series', 'list'])).toEqual([]);
    // Health and metrics stay open for probes.
    expect((await api('GET', '/healthz', undefined, { token: null })).status).toBe(200);
  });

  it('says where the server is when it cannot be reached', async () => {
    const r = await runCli(['image', 'list'], { INGOT_HOME: tempDir() });
    expect(r.code).toBe(69);
    expect(r.stderr).toContain('ingot serve');
  });
});

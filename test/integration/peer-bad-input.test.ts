/**
 * What a peer can send that must be refused, over the real mutual-TLS peer API: unknown,
 * expired and revoked certificates, manifests that are not what their origin signed,
 * images relayed from another origin, chunks that do not match, cut streams.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest, Manifest } from '../../src/core/manifest.js';
import {
  canonicalJson,
  decodeManifest,
  encodeManifest,
  manifestDigest,
} from '../../src/core/manifest-codec.js';
import { decodeRoot, encodeManifestV2 } from '../../src/core/manifest-v2.js';
import { encodeDelta } from '../../src/store/delta-codec.js';
import { decodeFrames, encodeFrames } from '../../src/store/frame-codec.js';
import { fetchWholeManifest } from '../../src/transfer/downloader.js';
import { type FakePeer, fakePeer } from '../support/fake-peer.js';
import { type IngotServer, startIngot } from '../support/ingot.js';
import { pair, replicasFrom, workDir, writeJson } from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

let s1: IngotServer;
let s2: IngotServer;
let cert2: string;
let fake: FakePeer;
let whole: Manifest;
let frames: Buffer;
let digests: Digest[];

async function admin(
  server: IngotServer,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Buffer> {
  const res = await request(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(res.statusCode).toBe(200);
  return Buffer.from(await res.body.arrayBuffer());
}

/**
 * FAKE_1: the sealed manifest of a real image, renamed and re-signed as the fake peer's own
 * (written whole, as version 1: a peer may still send those).
 */
function fakeImage(overrides: Record<string, unknown> = {}) {
  const bytes = encodeManifest({ ...whole, version: 1, name: 'FAKE_1', origin: fake.name, ...overrides });
  const digest = manifestDigest(bytes);
  const meta = {
    name: 'FAKE_1',
    digest,
    origin: fake.name,
    signature: fake.sign(digest),
    state: 'PUBLISHED',
    imageType: 'DISKIMAGE',
    baseType: 'DISKIMAGE',
    size: 1024 * 1024,
  };
  return { bytes, digest, meta };
}

async function missing(list: Digest[]): Promise<Digest[]> {
  const r = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/chunks/missing', {
    image: fakeImage().digest,
    digests: list,
  });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.missing as Digest[];
}

/** Where the fake peer pushes FAKE_1's chunks: the transfer s2 granted when it took the offer. */
function chunksPath(): string {
  return `/peer/v1/chunks?image=${fakeImage().digest}`;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* one(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

beforeAll(async () => {
  [s1, s2] = await Promise.all([startIngot({ name: 'FPPS_1' }), startIngot({ name: 'FPPS_2' })]);
  await pair({ server: s1, name: 'FPPS_1' }, { server: s2, name: 'FPPS_2' });
  cert2 = readFileSync(join(s2.home, 'keys', 'peer.crt'), 'utf8');
  fake = fakePeer('FPPS_F');
  const r = await s2.cli([
    'register',
    'server',
    '--server',
    'FPPS_F',
    '--serverdata',
    writeJson(fake.serverData),
  ]);
  expect(r.code, r.stderr).toBe(0);
  const file = join(workDir(), 'small.img');
  writeFileSync(file, pseudoRandom('small', 1024 * 1024));
  expect((await s1.cli(['image', 'add', 'SMALL', '--file', file])).code).toBe(0);
  const root = decodeRoot(await admin(s1, 'GET', '/api/v1/images/SMALL/manifest'));
  whole = await fetchWholeManifest(root, {
    fetch: async (wanted) =>
      decodeFrames(Readable.from([await admin(s1, 'POST', '/api/v1/chunks/fetch', { digests: wanted })])),
  });
  digests = [...new Set(whole.chunks.flatMap((c) => (c.kind === 'data' ? [c.digest] : [])))];
  frames = await admin(s1, 'POST', '/api/v1/chunks/fetch', { digests });
  expect(digests.length).toBeGreaterThanOrEqual(6);
});

afterAll(async () => {
  await Promise.all([s1?.stop(), s2?.stop()]);
});

describe('peer API trust', () => {
  it('lets a registered certificate in', async () => {
    const r = await fake.call(s2.peerUrl, cert2, 'GET', '/peer/v1/hello');
    expect(r).toMatchObject({ status: 200, json: { name: 'FPPS_2' } });
  });

  it('refuses an unknown certificate at the handshake', async () => {
    const stranger = fakePeer('STRANGER');
    await expect(stranger.call(s2.peerUrl, cert2, 'GET', '/peer/v1/hello')).rejects.toThrow();
  });

  it('refuses registering an expired certificate, and one that expired since', async () => {
    const old = fakePeer('FPPS_OLD', { notBefore: new Date('2020-01-01'), notAfter: new Date('2021-01-01') });
    const r = await s2.cli([
      'register',
      'server',
      '--server',
      'FPPS_OLD',
      '--serverdata',
      writeJson(old.serverData),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/expired/);
    const brief = fakePeer('FPPS_BRIEF', {
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 2500),
    });
    const ok = await s2.cli([
      'register',
      'server',
      '--server',
      'FPPS_BRIEF',
      '--serverdata',
      writeJson(brief.serverData),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 3500));
    await expect(brief.call(s2.peerUrl, cert2, 'GET', '/peer/v1/hello')).rejects.toThrow();
  });

  it('refuses a server that shows another certificate than the one pinned', async () => {
    // FPPS_1 pinned FPPS_2's certificate; a server-data file with FPPS_2's name and endpoint
    // but another certificate must not let FPPS_1 talk to FPPS_2 in that name.
    const other = fakePeer('FPPS_2');
    const r1 = await s1.cli(['unregister', 'server', '--server', 'FPPS_2']);
    expect(r1.code).toBe(0);
    const forged = { ...other.serverData, endpoint: s2.peerUrl };
    expect(
      (await s1.cli(['register', 'server', '--server', 'FPPS_2', '--serverdata', writeJson(forged)])).code,
    ).toBe(0);
    const seen = await s1.json<{ reachable: boolean; error: string }>([
      'query',
      'peerserver',
      '--server',
      'FPPS_2',
    ]);
    expect(seen.reachable).toBe(false);
  });
});

describe('what a peer sends', () => {
  it('refuses an unasked push unless uploads from that peer are allowed', async () => {
    const { bytes, meta } = fakeImage();
    const offer = { ...meta, manifest: bytes.toString('base64') };
    const r = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas/check', offer);
    expect(r).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    expect(String(r.json.message)).toMatch(/takes no uploads/);
    // No accepted offer, no chunk questions either.
    const early = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/chunks/missing', {
      image: meta.digest,
      digests,
    });
    expect(early).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    const on = await s2.cli(['modify', 'peerserver', '--server', 'FPPS_F', '--allow-uploads', 'on']);
    expect(on.code, on.stderr).toBe(0);
    const again = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas/check', offer);
    expect(again).toMatchObject({ status: 200, json: { status: 'needed' } });
  });

  it('refuses an offer whose signature does not check', async () => {
    const { bytes, meta } = fakeImage();
    const wrong = {
      ...meta,
      manifest: bytes.toString('base64'),
      signature: fake.sign(manifestDigest(Buffer.from('something else'))),
    };
    const r = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas/check', wrong);
    expect(r).toMatchObject({ status: 422, json: { code: 'BAD_SIGNATURE' } });
  });

  it('refuses an image that originated elsewhere (no relaying, no impersonation)', async () => {
    const { bytes, meta } = fakeImage({ origin: 'FPPS_1' });
    const r = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas', {
      ...meta,
      origin: 'FPPS_1',
      manifest: bytes.toString('base64'),
    });
    expect(r).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
  });

  it('refuses a push of an image that names the receiver as its origin, storing nothing', async () => {
    const { bytes, meta } = fakeImage({ origin: 'FPPS_2' });
    const offer = { ...meta, origin: 'FPPS_2', manifest: bytes.toString('base64') };
    for (const path of ['/peer/v1/replicas/check', '/peer/v1/replicas']) {
      const r = await fake.call(s2.peerUrl, cert2, 'POST', path, offer);
      expect(r).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    }
    // No transfer was granted, so none of its chunks may land either.
    const put = await fake.call(s2.peerUrl, cert2, 'PUT', `/peer/v1/chunks?image=${meta.digest}`, frames);
    expect(put.status).toBe(403);
    expect((await s2.cli(['image', 'show', 'FAKE_1'])).code).toBe(3);
  });

  it('refuses a manifest that is not the one signed', async () => {
    const { bytes, meta } = fakeImage();
    const tampered = encodeManifest({ ...decodeManifest(bytes), created: '2001-01-01T00:00:00.000Z' });
    const r = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas', {
      ...meta,
      manifest: tampered.toString('base64'),
    });
    expect(r).toMatchObject({ status: 422, json: { code: 'BAD_SIGNATURE' } });
    expect((await s2.cli(['image', 'show', 'FAKE_1'])).code).toBe(3);
  });

  it('refuses to list an image while chunks are missing', async () => {
    const { bytes, meta } = fakeImage();
    const r = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas', {
      ...meta,
      manifest: bytes.toString('base64'),
    });
    expect(r).toMatchObject({ status: 409, json: { code: 'MISSING_CHUNKS' } });
    expect((await s2.cli(['image', 'show', 'FAKE_1'])).code).toBe(3);
  });

  it('binds every chunk to a transfer: nothing outside the offered image is read, asked about or stored', async () => {
    const stranger = pseudoRandom('stranger', 70_000);
    const strangerDigest = createHash('sha256').update(stranger).digest('hex') as Digest;
    const body = Buffer.concat(
      await collect(
        encodeFrames([
          {
            digest: strangerDigest,
            encoded: { encoding: 'raw', payload: stranger },
            rawLength: stranger.length,
          },
        ]),
      ),
    );
    const put = await fake.call(s2.peerUrl, cert2, 'PUT', chunksPath(), body);
    expect(put).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    const unnamed = await fake.call(s2.peerUrl, cert2, 'PUT', '/peer/v1/chunks', body);
    expect(unnamed.status).toBe(400);
    const asked = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/chunks/missing', {
      image: fakeImage().digest,
      digests: [strangerDigest],
    });
    expect(asked).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    // s2 holds SMALL's chunks (it is paired with s1), yet offered the fake peer nothing to read.
    const read = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/chunks/fetch', {
      image: fakeImage().digest,
      digests: digests.slice(0, 1),
    });
    expect(read).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    const admin2 = await request(`${s2.url}/api/v1/chunks/missing`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s2.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ digests: [strangerDigest] }),
    });
    expect(((await admin2.body.json()) as { missing: string[] }).missing).toEqual([strangerDigest]);
  });

  it('stores nothing of a chunk whose bytes do not match its digest', async () => {
    const target = digests[0] as Digest;
    const body = Buffer.concat(
      await collect(
        encodeFrames([
          { digest: target, encoded: { encoding: 'raw', payload: Buffer.from('not it') }, rawLength: 6 },
        ]),
      ),
    );
    const r = await fake.call(s2.peerUrl, cert2, 'PUT', chunksPath(), body);
    expect(r).toMatchObject({ status: 422, json: { code: 'DIGEST_MISMATCH' } });
    expect(await missing([target])).toEqual([target]);
  });

  it('keeps the whole chunks of a cut stream and refuses the rest', async () => {
    const parsed = await collect(decodeFrames(one(frames)));
    const upTo = parsed.slice(0, 3).reduce((n: number, c) => n + 42 + c.encoded.payload.length, 5);
    const cut = frames.subarray(0, upTo + 42 + 100);
    const r = await fake.call(s2.peerUrl, cert2, 'PUT', chunksPath(), cut);
    expect(r).toMatchObject({ status: 400, json: { code: 'TRUNCATED' } });
    expect(await missing(digests)).toEqual(digests.slice(3));
  });

  it('lists the image once every chunk is there and the manifest is the signed one', async () => {
    const put = await fake.call(s2.peerUrl, cert2, 'PUT', chunksPath(), frames);
    expect(put.status).toBe(200);
    expect(put.json.stored).toBe(digests.length - 3);
    const { bytes, meta } = fakeImage();
    const r = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas', {
      ...meta,
      manifest: bytes.toString('base64'),
    });
    expect(r).toMatchObject({ status: 200, json: { status: 'needed' } });
    expect(await replicasFrom(s2, 'FPPS_F')).toEqual(['FAKE_1']);
    // An upload arrives TESTABLE, and its state is the receiver's to set.
    const shown = await s2.json<{ state: string; uploaded: boolean }>(['image', 'show', 'FAKE_1']);
    expect(shown).toMatchObject({ state: 'TESTABLE', uploaded: true });
    expect((await s2.cli(['image', 'verify', 'FAKE_1'])).code).toBe(0);
    const again = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas', {
      ...meta,
      manifest: bytes.toString('base64'),
    });
    expect(again).toMatchObject({ status: 200, json: { status: 'present' } });
  });

  it('refuses a delta against a chunk outside its bases, one that decodes to other bytes, and a delta bomb', async () => {
    const raws = new Map(
      (await collect(decodeFrames(one(frames)))).map((c) => [c.digest, c.encoded.payload]),
    );
    const rawOf = (d: Digest) => raws.get(d) as Buffer;
    // FAKE_D: FAKE_1 (held on s2) with a few bytes of its third chunk changed.
    const [, , old, other] = digests as [Digest, Digest, Digest, Digest];
    const changed = Buffer.from(rawOf(old));
    changed.write('a few changed bytes', 1000);
    const target = createHash('sha256').update(changed).digest('hex') as Digest;
    const { digest: parent } = fakeImage();
    const chunks = whole.chunks.map((c) =>
      c.kind === 'data' && c.digest === old ? { ...c, digest: target } : c,
    );
    const { bytes, meta } = fakeImage({ name: 'FAKE_D', parent, chunks });
    const offer = { ...meta, name: 'FAKE_D', manifest: bytes.toString('base64') };
    const check = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas/check', offer);
    expect(check).toMatchObject({
      status: 200,
      json: { status: 'needed', bases: [{ name: 'FAKE_1', digest: parent }] },
    });
    const push = async (delta: Buffer, reference: Digest, rawLength = changed.length) => {
      const body = Buffer.concat(
        await collect(
          encodeFrames(
            [
              {
                digest: target,
                rawLength,
                encoded: { encoding: 'delta', references: [reference], payload: delta },
              },
            ],
            {
              deltas: true,
            },
          ),
        ),
      );
      return fake.call(s2.peerUrl, cert2, 'PUT', `/peer/v1/chunks?image=${meta.digest}`, body);
    };
    const stillMissing = async () => {
      const r = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/chunks/missing', {
        image: meta.digest,
        digests: [target],
      });
      return r.json.missing;
    };
    const stranger = createHash('sha256').update('never held').digest('hex') as Digest;
    expect(await push(encodeDelta(changed, rawOf(old)), stranger)).toMatchObject({
      status: 403,
      json: { code: 'FORBIDDEN' },
    });
    expect(await stillMissing()).toEqual([target]);
    // A real chunk of the base, but not the one this delta was made against.
    expect(await push(encodeDelta(rawOf(other), rawOf(old)), old)).toMatchObject({
      status: 200,
      json: { stored: 0, refused: [target] },
    });
    expect(await stillMissing()).toEqual([target]);
    // 17 MiB of zeros against the reference: a few hundred bytes that would decode past any chunk.
    const bomb = encodeDelta(Buffer.alloc(17 * 1024 * 1024), rawOf(old));
    expect(bomb.length).toBeLessThan(4096);
    expect(await push(bomb, old)).toMatchObject({ status: 200, json: { stored: 0, refused: [target] } });
    expect(await stillMissing()).toEqual([target]);
    expect(s2.logs()).toContain('delta chunks refused');
    // The honest delta: a few dozen bytes for a 64 KiB chunk, stored whole, and the image lists.
    const good = encodeDelta(changed, rawOf(old));
    expect(good.length).toBeLessThan(200);
    expect(await push(good, old)).toMatchObject({ status: 200, json: { stored: 1, refused: [] } });
    expect(await stillMissing()).toEqual([]);
    const listed = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas', offer);
    expect(listed).toMatchObject({ status: 200, json: { status: 'needed' } });
    expect((await s2.cli(['image', 'verify', 'FAKE_D'])).code).toBe(0);
  });

  it('takes a version 2 root part first: data only once its parts are held, parts cut any other way refused', async () => {
    const offerOf = (name: string, root: Buffer) => {
      const digest = manifestDigest(root);
      return {
        ...fakeImage().meta,
        name,
        digest,
        signature: fake.sign(digest),
        manifest: root.toString('base64'),
      };
    };
    const framesOf = async (parts: readonly { digest: Digest; bytes: Buffer }[]) =>
      Buffer.concat(
        await collect(
          encodeFrames(
            parts.map((p) => ({
              digest: p.digest,
              encoded: { encoding: 'raw' as const, payload: p.bytes },
              rawLength: p.bytes.length,
            })),
          ),
        ),
      );
    const model: Manifest = { ...whole, version: 2, origin: fake.name, name: 'FAKE_V2' };
    const v2 = encodeManifestV2(model);
    const offer = offerOf('FAKE_V2', v2.root);
    expect(await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas/check', offer)).toMatchObject({
      status: 200,
      json: { status: 'needed' },
    });
    const ask = (list: Digest[]) =>
      fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/chunks/missing', { image: offer.digest, digests: list });
    expect(await ask(v2.parts.map((p) => p.digest))).toMatchObject({ status: 200 });
    // The root names only its parts: until they are here, its data is nobody's to send.
    expect(await ask(digests.slice(0, 1))).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    const path = `/peer/v1/chunks?image=${offer.digest}`;
    expect((await fake.call(s2.peerUrl, cert2, 'PUT', path, await framesOf(v2.parts))).status).toBe(200);
    expect(await ask(digests.slice(0, 1))).toMatchObject({ status: 200 });
    const listed = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas', offer);
    expect(listed).toMatchObject({ status: 200, json: { status: 'needed' } });
    expect((await s2.cli(['image', 'verify', 'FAKE_V2'])).code).toBe(0);

    // The same chunk list cut in two: every digest checks, but the cut is not the rule's.
    const whole3 = encodeManifestV2({ ...model, name: 'FAKE_V3' });
    const [list] = whole3.parts;
    const half = Math.floor((list?.bytes.length ?? 0) / 72) * 36;
    const split = [list?.bytes.subarray(0, half), list?.bytes.subarray(half)].map((bytes) => ({
      digest: createHash('sha256')
        .update(bytes as Buffer)
        .digest('hex') as Digest,
      bytes: bytes as Buffer,
    }));
    const json = JSON.parse(whole3.root.toString()) as { chunks: { parts: unknown[] } };
    json.chunks.parts = split.map((p) => [p.bytes.length / 36, p.bytes.length, p.digest]);
    const bad = offerOf('FAKE_V3', Buffer.from(canonicalJson(json as never)));
    expect(await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas/check', bad)).toMatchObject({
      status: 200,
    });
    expect(whole3.parts).toHaveLength(1);
    const put = await fake.call(
      s2.peerUrl,
      cert2,
      'PUT',
      `/peer/v1/chunks?image=${bad.digest}`,
      await framesOf(split),
    );
    expect(put.status, JSON.stringify(put.json)).toBe(200);
    const refused = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas', bad);
    expect(refused).toMatchObject({ status: 400, json: { code: 'INVALID_MANIFEST' } });
    expect((await s2.cli(['image', 'show', 'FAKE_V3'])).code).toBe(3);
  });

  it('unregister cuts a live connection at once and refuses the next handshake', async () => {
    // A second upload, accepted, so its chunks may come; FAKE_1's transfer ended with it.
    const second = encodeManifest({ ...decodeManifest(fakeImage().bytes), name: 'FAKE_2' });
    const digest2 = manifestDigest(second);
    const offer2 = { ...fakeImage().meta, name: 'FAKE_2', digest: digest2, signature: fake.sign(digest2) };
    const check = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/replicas/check', {
      ...offer2,
      manifest: second.toString('base64'),
    });
    expect(check).toMatchObject({ status: 200, json: { status: 'needed' } });
    const body = new Readable({ read() {} });
    body.push(frames.subarray(0, 5));
    const upload = request(`${s2.peerUrl}/peer/v1/chunks?image=${digest2}`, {
      method: 'PUT',
      dispatcher: fake.agent(cert2),
      headers: { 'content-type': 'application/vnd.ingot.chunks' },
      body,
    }).then(
      async (res) => ({ status: res.statusCode, text: await res.body.text() }),
      (err: Error) => ({ error: err.message }),
    );
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    expect((await s2.cli(['unregister', 'server', '--server', 'FPPS_F'])).code).toBe(0);
    const outcome = await upload;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(outcome).toHaveProperty('error');
    await expect(fake.call(s2.peerUrl, cert2, 'GET', '/peer/v1/hello')).rejects.toThrow();
    // Its replicas stay.
    expect(await replicasFrom(s2, 'FPPS_F')).toEqual(['FAKE_1', 'FAKE_D', 'FAKE_V2']);
  });
});

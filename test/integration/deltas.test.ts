/**
 * Delta chunks between real servers: a new version made `--from` the old one, pulled and
 * pushed to servers that hold the old one, travels as deltas against its chunks and lands
 * byte for byte; a peer that asks without references gets the version 1 stream it knows.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/core/manifest.js';
import { decodeChunkRecords, decodeRoot, partsOf } from '../../src/core/manifest-v2.js';
import { decodeFrames, encodeFrames } from '../../src/store/frame-codec.js';
import { CHUNK_STREAM_TYPE } from '../../src/transfer/ports.js';
import { type FakePeer, fakePeer } from '../support/fake-peer.js';
import { type IngotServer, startIngot } from '../support/ingot.js';
import {
  pair,
  replicasFrom,
  settled,
  type TransferJson,
  waitFor,
  workDir,
  writeJson,
} from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

const MIB = 1024 * 1024;
const BLOCK = 4096;
/** Blocks of V1 rewritten in V2, spread over the file. */
const REWRITTEN = 24;

let s1: IngotServer;
let s2: IngotServer;
let s3: IngotServer;
let v1: Buffer;
let v2: Buffer;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function ok(server: IngotServer, args: string[]): Promise<string> {
  const r = await server.cli(args);
  expect(r.code, `ingot ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** `server` pulls `image` from FPPS_1; the transfer's record. */
function pull(server: IngotServer, image: string): Promise<TransferJson & { chunksDelta: number }> {
  return server.json(['image', 'pull', image, '--server', 'FPPS_1']);
}

/** The image's bytes as `server` deploys them. */
async function deployed(server: IngotServer, image: string): Promise<Buffer> {
  const out = join(workDir(), `${server.peerPort}-${image}.img`);
  await ok(server, ['image', 'deploy', image, '--path', out]);
  return readFileSync(out);
}

async function addFile(server: IngotServer, name: string, bytes: Buffer, ...args: string[]): Promise<void> {
  const file = join(workDir(), `${name}.img`);
  writeFileSync(file, bytes);
  await ok(server, ['image', 'add', name, '--file', file, '--type', 'DELTADISK', ...args]);
}

/** V1 with `blocks` 4 KiB blocks rewritten at spread-out places. */
function rewritten(base: Buffer, seed: string, blocks: number): Buffer {
  const out = Buffer.from(base);
  const stride = Math.floor(base.length / BLOCK / blocks);
  for (let i = 0; i < blocks; i++) pseudoRandom(`${seed}${i}`, BLOCK).copy(out, (i * stride + 7) * BLOCK);
  return out;
}

beforeAll(async () => {
  [s1, s2, s3] = await Promise.all([
    startIngot({ name: 'FPPS_1' }),
    startIngot({ name: 'FPPS_2' }),
    startIngot({ name: 'FPPS_3' }),
  ]);
  await pair({ server: s1, name: 'FPPS_1' }, { server: s2, name: 'FPPS_2' });
  await pair({ server: s1, name: 'FPPS_1' }, { server: s3, name: 'FPPS_3' });
  await ok(s1, ['imagetype', 'add', 'DELTADISK', '--basetype', 'DISKIMAGE']);
  v1 = pseudoRandom('delta-v1', 8 * MIB);
  v2 = rewritten(v1, 'v2-', REWRITTEN);
  await addFile(s1, 'V1', v1);
  await addFile(s1, 'V2', v2, '--from', 'V1');
});

afterAll(async () => {
  await Promise.all([s1?.stop(), s2?.stop(), s3?.stop()]);
});

describe('delta chunks', () => {
  it('a pull of V2 onto a server holding V1 sends the changed chunks as deltas, the bytes its dry run said', async () => {
    const first = await pull(s2, 'V1');
    expect(first.chunksDelta).toBe(0);
    type Plan = { wireBytes: number; images: { chunksDelta: number; wireBytes: number }[] };
    const plan = await s2.json<Plan>(['image', 'pull', 'V2', '--server', 'FPPS_1', '--dry-run']);
    expect(plan.images[0]?.chunksDelta).toBeGreaterThanOrEqual(REWRITTEN);
    expect(plan.images[0]?.wireBytes).toBe(plan.wireBytes);
    const t = await pull(s2, 'V2');
    expect(t.outcome).toBe('created');
    // Each rewritten block changes one chunk, or two where it straddles a cut.
    expect(t.chunksDelta).toBeGreaterThanOrEqual(REWRITTEN);
    expect(t.chunksDelta).toBe(t.chunksSent);
    expect(t.chunksDelta).toBe(plan.images[0]?.chunksDelta);
    // The dry run moved the manifest's parts already: the pull sent exactly the data it counted.
    expect(t.wireBytes).toBe(plan.wireBytes);
    const missing = t.bytesTotal - t.bytesPresent;
    // Whole, the changed chunks are ~64 KiB each; as deltas about the 4 KiB written into each.
    expect(t.wireBytes).toBeLessThan(missing / 4);
    expect(t.wireBytes).toBeLessThan(REWRITTEN * 3 * BLOCK + 64 * 1024);
    expect(sha(await deployed(s2, 'V2'))).toBe(sha(v2));
    await ok(s2, ['image', 'verify', 'V2']);
  });

  it('a push of a new version to a server holding its parent sends deltas too', async () => {
    await ok(s3, ['instantiate', 'image', '--server', 'FPPS_1', '--imagetype', 'DELTADISK']);
    await waitFor(
      'V1 and V2',
      () => replicasFrom(s3, 'FPPS_1'),
      (r) => r.includes('V2'),
    );
    const v3 = rewritten(v2, 'v3-', REWRITTEN);
    await addFile(s1, 'V3', v3, '--from', 'V2');
    await waitFor(
      'V3',
      () => replicasFrom(s3, 'FPPS_1'),
      (r) => r.includes('V3'),
    );
    const pushes = (await settled(s1)) as (TransferJson & { chunksDelta: number })[];
    const push = pushes.find((p) => p.image === 'V3' && p.peer === 'FPPS_3');
    expect(push?.outcome).toBe('created');
    expect(push?.chunksDelta).toBeGreaterThanOrEqual(REWRITTEN);
    expect(push?.wireBytes).toBeLessThan(REWRITTEN * 3 * BLOCK + 64 * 1024);
    expect(sha(await deployed(s3, 'V3'))).toBe(sha(v3));
  });
});

describe('a delta the receiver cannot use', () => {
  it('is sent again whole: a reference damaged in the receiver’s store still gives the right image', async () => {
    // V4: one block of V2 rewritten. Its chunk's reference is V2's chunk in that place,
    // which FPPS_2 holds; damage FPPS_2's copy of it (a few bytes before the block).
    const v4 = rewritten(v2, 'v4-', 1);
    await addFile(s1, 'V4', v4, '--from', 'V2');
    const at = 7 * BLOCK - 600;
    const needle = v2.subarray(at, at + 64);
    const packs = join(s2.home, 'store', 'packs-v1');
    let damaged = 0;
    for (const f of readdirSync(packs).filter((n) => n.endsWith('.pack'))) {
      const bytes = readFileSync(join(packs, f));
      const fd = openSync(join(packs, f), 'r+');
      // V1's chunk in that place holds these bytes too: damage every copy.
      for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
        writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, at);
        damaged++;
      }
      closeSync(fd);
    }
    expect(damaged).toBe(2);
    const t = await pull(s2, 'V4');
    expect(t.outcome).toBe('created');
    // The delta decoded to other bytes against the damaged copy: refused, then sent whole.
    expect(t.chunksDelta).toBeGreaterThanOrEqual(1);
    expect(t.chunksSent).toBe(t.chunksDelta + 1);
    expect(sha(await deployed(s2, 'V4'))).toBe(sha(v4));
  });
});

describe('a peer that knows only whole chunks', () => {
  let fake: FakePeer;
  let cert1: string;

  beforeAll(async () => {
    fake = fakePeer('FPPS_OLD');
    cert1 = readFileSync(join(s1.home, 'keys', 'peer.crt'), 'utf8');
    await ok(s1, ['register', 'server', '--server', 'FPPS_OLD', '--serverdata', writeJson(fake.serverData)]);
  });

  it('gets a version 1 stream when it asks without references', async () => {
    const offer = await fake.call(s1.peerUrl, cert1, 'GET', '/peer/v1/images/V2');
    expect(offer.status).toBe(200);
    const image = offer.json.digest as string;
    const root = decodeRoot(Buffer.from(offer.json.manifest as string, 'base64'));
    if (root.version !== 2) throw new Error('expected a version 2 root');
    const parts = partsOf(root.root);
    const res = await fake.agent(cert1).request({
      origin: s1.peerUrl,
      path: '/peer/v1/chunks/fetch',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image, digests: parts.map((p) => p.digest) }),
    });
    expect(res.statusCode).toBe(200);
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(body.subarray(0, 5)).toEqual(Buffer.from('IGCK\x01', 'latin1'));
    let n = 0;
    for await (const c of decodeFrames(Readable.from([body]))) {
      expect(c.encoded.encoding).not.toBe('delta');
      n++;
    }
    expect(n).toBe(parts.length);
  });
});

describe('patches from a remote CLI (image add --from, uploaded)', () => {
  const put = async (frames: Buffer) => {
    const res = await fetch(`${s1.url}/api/v1/chunks`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${s1.token}`, 'content-type': CHUNK_STREAM_TYPE },
      body: frames,
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { stored: number; refused: string[] };
  };
  const missing = async (digests: string[]) => {
    const res = await fetch(`${s1.url}/api/v1/chunks/missing`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s1.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ digests }),
    });
    return ((await res.json()) as { missing: string[] }).missing;
  };
  const frames = async (chunks: Parameters<typeof encodeFrames>[0]) => {
    const out: Buffer[] = [];
    for await (const b of encodeFrames(chunks, { deltas: true })) out.push(b);
    return Buffer.concat(out);
  };

  it('sends the changed chunks as patches against the server’s copy of V1, and the image lands', async () => {
    const p2 = rewritten(v1, 'p2-', REWRITTEN);
    const file = join(workDir(), 'P2.img');
    writeFileSync(file, p2);
    type Added = { upload: { sentRawBytes: number; patchedChunks: number; patchBytes: number } };
    const added = await s1.json<Added>(['image', 'add', 'P2', '--file', file, '--from', 'V1', '--upload']);
    expect(added.upload.patchedChunks).toBeGreaterThanOrEqual(REWRITTEN);
    // About the 4 KiB written into each changed chunk, not its ~64 KiB.
    expect(added.upload.patchBytes).toBeLessThan(REWRITTEN * 3 * BLOCK);
    expect(added.upload.patchBytes).toBeLessThan(added.upload.sentRawBytes / 4);
    expect(sha(await deployed(s1, 'P2'))).toBe(sha(p2));
    await ok(s1, ['image', 'verify', 'P2']);
  });

  it('refuses a patch against a chunk it does not hold, and one that does not apply, storing nothing', async () => {
    const target = pseudoRandom('patch-target', 8192);
    const digest = sha(target) as Digest;
    const ref = sha(pseudoRandom('patch-reference-nobody-has', 100)) as Digest;
    const literal = Buffer.concat([Buffer.from([1, 0, 0, 0x20, 0]), target]);
    const unheld = await put(
      await frames([
        {
          digest,
          rawLength: 8192,
          encoded: { encoding: 'delta', references: [ref], payload: literal, patch: true },
        },
      ]),
    );
    expect(unheld.refused).toEqual([digest]);
    // A copy reaching past its reference (V1's first stored chunk is far shorter than 2^31).
    const [first] = await firstChunkOf(s1, 'V1');
    const copy = Buffer.alloc(9);
    copy.writeUInt32BE(2 ** 31, 1);
    copy.writeUInt32BE(8192, 5);
    const bad = await put(
      await frames([
        {
          digest,
          rawLength: 8192,
          encoded: { encoding: 'delta', references: [first as Digest], payload: copy, patch: true },
        },
      ]),
    );
    expect(bad.refused).toEqual([digest]);
    expect(await missing([digest])).toEqual([digest]);
  });
});

/** The digest of an image's first data chunk, as its server lists it. */
async function firstChunkOf(server: IngotServer, image: string): Promise<string[]> {
  const r = await fetch(`${server.url}/api/v1/images/${image}/manifest`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  const decoded = decodeRoot(Buffer.from(await r.arrayBuffer()));
  if (decoded.version !== 2) return [decoded.manifest.chunks.find((c) => c.kind === 'data')?.digest ?? ''];
  const list = await fetch(`${server.url}/api/v1/chunks/fetch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ digests: [decoded.root.chunks.parts[0]?.digest] }),
  });
  for await (const c of decodeFrames(Readable.from([Buffer.from(await list.arrayBuffer())]))) {
    const records = decodeChunkRecords(c.encoded.payload, 'part');
    return [records.find((x) => x.kind === 'data')?.digest ?? ''];
  }
  return [];
}

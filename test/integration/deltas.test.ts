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
import { decodeRoot, partsOf } from '../../src/core/manifest-v2.js';
import { decodeFrames } from '../../src/store/frame-codec.js';
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

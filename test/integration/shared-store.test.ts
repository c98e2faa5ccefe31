import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeRoot, partsOf } from '../../src/core/manifest-v2.js';
import { decodeFrames } from '../../src/store/frame-codec.js';
import { fakePeer } from '../support/fake-peer.js';
import { type IngotServer, runCli, tempDir } from '../support/ingot.js';
import { waitFor, writeJson } from '../support/peers.js';
import { type SharedNodes, startSharedNodes } from '../support/shared-nodes.js';
import { describeTree, makeRichTree, pseudoRandom } from '../support/trees.js';

/**
 * Two nodes of one server: two `ingot serve` processes (their own INGOT_HOMEs, one identity)
 * on one PostgreSQL catalog and one shared directory store.
 */
describe('two nodes on one PostgreSQL and one shared directory store', () => {
  let nodes: SharedNodes;
  let a: IngotServer;
  let b: IngotServer;
  let shared: string;
  let work: string;
  let db: { url: string };

  beforeAll(async () => {
    nodes = await startSharedNodes(inject('pgUrl'), 'FPPS_1');
    ({ a, b, shared, db } = nodes);
    work = tempDir('ingot-shared-work-');
  });
  afterAll(() => nodes?.stop());

  it('deploys through one node an image added through the other, and dedups against it', async () => {
    const src = join(work, 'home');
    makeRichTree(src);
    const add = await a.cli(['image', 'add', 'DBHOME_1', '--path', src]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const listed = await b.json<{ name: string }[]>(['image', 'list']);
    expect(listed.map((i) => i.name)).toEqual(['DBHOME_1']);

    const dest = join(work, 'deployed');
    const dep = await b.cli(['image', 'deploy', 'DBHOME_1', '--path', dest]);
    expect(dep.stderr).toBe('');
    expect(dep.code).toBe(0);
    expect(describeTree(dest)).toEqual(describeTree(src));
    // Nothing of it is in node B's own home: the chunks are in the shared segments.
    expect(readdirSync(join(b.home, 'store'))).not.toContain('packs-v1');
    expect(readdirSync(join(shared, 'segments-v1')).length).toBeGreaterThan(0);

    // The same content added through B stores no chunk again.
    const before = await chunkRows(db.url);
    expect((await b.cli(['image', 'add', 'DBHOME_2', '--path', src])).code).toBe(0);
    expect(await chunkRows(db.url)).toBe(before);
    const verified = await a.cli(['image', 'verify', 'DBHOME_2']);
    expect(verified.code).toBe(0);
  });

  it('trusts a peer registered through the other node, serves its pull there, and nothing it would not offer', async () => {
    const puller = fakePeer('FPPS_P');
    const reg = await a.cli([
      'register',
      'server',
      '--server',
      'FPPS_P',
      '--serverdata',
      writeJson(puller.serverData),
    ]);
    expect(reg.code, reg.stderr).toBe(0);
    const cert = readFileSync(join(a.home, 'keys', 'peer.crt'), 'utf8');
    // Node B learns of the peer registered through A within its next ticks, with no restart.
    const answers = (url: string) =>
      puller.call(url, cert, 'GET', '/peer/v1/images/DBHOME_1').then(
        (r) => r.status,
        () => 'refused at TLS',
      );
    await waitFor(
      'node B to trust the new peer',
      () => answers(b.peerUrl),
      (s) => s === 200,
      10_000,
    );
    const offer = await puller.call(a.peerUrl, cert, 'GET', '/peer/v1/images/DBHOME_1');
    expect(offer.status).toBe(200);
    const digest = offer.json.digest as string;
    const decoded = decodeRoot(Buffer.from(offer.json.manifest as string, 'base64'));
    expect(decoded.version).toBe(2);
    const parts = decoded.version === 2 ? partsOf(decoded.root).map((p) => p.digest) : [];
    // Behind a balancer the chunk requests may reach node B, which never saw the offer.
    const res = await request(`${b.peerUrl}/peer/v1/chunks/fetch`, {
      method: 'POST',
      dispatcher: puller.agent(cert),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: digest, digests: parts }),
    });
    expect(res.statusCode).toBe(200);
    const got: string[] = [];
    for await (const f of decodeFrames(Readable.from([Buffer.from(await res.body.arrayBuffer())])))
      got.push(f.digest);
    expect(got).toEqual(parts);
    // A private image is offered to no peer: naming its digest on node B gets none of it.
    const file = join(work, 'private.img');
    writeFileSync(file, 'never offered'.repeat(1000));
    expect((await a.cli(['image', 'add', 'SECRET_1', '--file', file, '--private'])).code).toBe(0);
    const secret = await a.json<{ digest: string }>(['image', 'show', 'SECRET_1']);
    const refused = await puller.call(b.peerUrl, cert, 'POST', '/peer/v1/chunks/fetch', {
      image: secret.digest,
      digests: parts.slice(0, 1),
    });
    expect(refused).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
    expect((await a.cli(['image', 'delete', 'SECRET_1'])).code).toBe(0);
    // Unregistered through A, the peer is then refused by B's TLS, its open connection cut.
    expect((await a.cli(['unregister', 'server', '--server', 'FPPS_P'])).code).toBe(0);
    await waitFor(
      'node B to refuse the peer',
      () => answers(b.peerUrl),
      (s) => s === 'refused at TLS',
      10_000,
    );
  });

  it('collects on one node what was deleted through the other, and keeps what another image names', async () => {
    const file = join(work, 'disk.img');
    writeFileSync(file, pseudoRandom('shared-gc', 3 * 2 ** 20));
    expect((await b.cli(['image', 'add', 'DISK_1', '--file', file])).code).toBe(0);
    const before = await chunkRows(db.url);
    expect((await b.cli(['image', 'delete', 'DISK_1'])).code).toBe(0);
    const { result: gc } = await a.json<{ result: { deletedChunks: number } }>(['gc', '--grace', '0']);
    expect(gc.deletedChunks).toBeGreaterThan(0);
    expect(await chunkRows(db.url)).toBe(before - gc.deletedChunks);
    const dest = join(work, 'after-gc');
    expect((await a.cli(['image', 'deploy', 'DBHOME_1', '--path', dest])).code).toBe(0);
    expect(describeTree(dest)).toEqual(describeTree(join(work, 'home')));
  });

  it('refuses a --store it cannot use, with a clear error and exit code', async () => {
    for (const bad of [
      'ftp://files.example/ingot',
      's3://Bad_Bucket/x',
      's3://gold/../x',
      's3://gold/x?endpoint=file:///etc',
      's3://gold/x?acl=public',
    ]) {
      const home = tempDir();
      const r = await runCli(['serve', '--store', bad], { INGOT_HOME: home });
      expect(r.stderr).toContain('invalid --store');
      expect(r.code).toBe(2);
      expect(readdirSync(home)).toEqual([]);
    }
  });
});

async function chunkRows(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ n: string }>('select count(*) as n from store_chunks');
    return Number(r.rows[0]?.n);
  } finally {
    await client.end();
  }
}

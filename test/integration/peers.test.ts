/**
 * The FPP peer procedure end to end on three real servers: FPPS_1 and FPPS_2 on SQLite,
 * FPPS_3 on PostgreSQL. 1 and 2 are peers, 2 and 3 are peers, 1 and 3 are not.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TempDatabase, tempDatabase } from '../support/databases.js';
import { type IngotServer, startIngot } from '../support/ingot.js';
import {
  exportServer,
  type ImageJson,
  pair,
  replicasFrom,
  settled,
  type TransferJson,
  waitFor,
  workDir,
  writeJson,
} from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

let s1: IngotServer;
let s2: IngotServer;
let s3: IngotServer;
let pg: TempDatabase;

function home(name: string, kib = 96): string {
  const dir = join(workDir(), `src-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bin.dat'), pseudoRandom(name, kib * 1024));
  writeFileSync(join(dir, 'README'), `home ${name}\n`);
  return dir;
}

async function add(server: IngotServer, name: string, ...args: string[]): Promise<void> {
  const r = await server.cli(['image', 'add', name, '--path', home(name), ...args]);
  expect(r.code, r.stderr).toBe(0);
}

async function ok(server: IngotServer, args: string[]): Promise<string> {
  const r = await server.cli(args);
  expect(r.code, `ingot ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Waits until every push from FPPS_1 has ended, then lists what FPPS_2 received. */
async function received(): Promise<string[]> {
  await settled(s1);
  return replicasFrom(s2, 'FPPS_1');
}

beforeAll(async () => {
  pg = await tempDatabase('postgres');
  [s1, s2, s3] = await Promise.all([
    startIngot({ name: 'FPPS_1' }),
    startIngot({ name: 'FPPS_2' }),
    startIngot({ name: 'FPPS_3', db: pg.url }),
  ]);
});

afterAll(async () => {
  await Promise.all([s1?.stop(), s2?.stop(), s3?.stop()]);
  await pg?.cleanup();
});

describe('peers, as in the FPP procedure', () => {
  it('export, register both ways, and query peerserver shows each reachable', async () => {
    await pair({ server: s1, name: 'FPPS_1' }, { server: s2, name: 'FPPS_2' });
    await pair({ server: s2, name: 'FPPS_2' }, { server: s3, name: 'FPPS_3' });
    const peers = await s2.json<{ name: string; reachable: boolean; lastContactAt: string | null }[]>([
      'query',
      'peerserver',
    ]);
    expect(peers.map((p) => [p.name, p.reachable])).toEqual([
      ['FPPS_1', true],
      ['FPPS_3', true],
    ]);
    expect(peers.every((p) => p.lastContactAt !== null)).toBe(true);
    const one = await s1.json<{ name: string; endpoint: string }>([
      'query',
      'peerserver',
      '--server',
      'FPPS_2',
    ]);
    expect(one.endpoint).toBe(s2.peerUrl);
    // 1 and 3 are not peers: nothing is implied through 2.
    expect((await s1.json<unknown[]>(['query', 'peerserver'])).length).toBe(1);
    const r = await s3.cli(['query', 'peerserver', '--server', 'FPPS_1']);
    expect(r.code).toBe(3);
  });

  it('sets up images on FPPS_1: types, a series, lineage, states and a private one', async () => {
    await ok(s1, ['imagetype', 'add', 'DBHOME', '--basetype', 'SOFTWARE']);
    await ok(s1, ['imagetype', 'add', 'GIHOME', '--basetype', 'SOFTWARE']);
    await ok(s1, ['series', 'add', 'DB19']);
    await add(s1, 'DB_1', '--type', 'DBHOME', '--series', 'DB19');
    await add(s1, 'DB_2', '--type', 'DBHOME', '--from', 'DB_1');
    await add(s1, 'GI_1', '--type', 'GIHOME');
    await add(s1, 'TEST_1', '--state', 'TESTABLE');
    await add(s1, 'PRIV_1', '--private');
    await add(s1, 'PRIV_2', '--private', '--state', 'TESTABLE');
    await add(s1, 'DB_OTHER', '--type', 'DBHOME');
  });

  it('--dry-run lists what would move and the exact bytes missing, and moves nothing', async () => {
    const plan = await s2.json<{ images: { meta: { name: string; size: number } }[]; bytesMissing: number }>([
      'instantiate',
      'image',
      '--server',
      'FPPS_1',
      '--imagetype',
      'DBHOME',
      '--dry-run',
    ]);
    const names = plan.images.map((i) => i.meta.name).sort();
    expect(names).toEqual(['DB_1', 'DB_2', 'DB_OTHER']);
    // Each home is 96 KiB of its own random bytes plus a README line: nothing shared, nothing held.
    const readme = (n: string) => `home ${n}\n`.length;
    expect(plan.bytesMissing).toBe(names.reduce((sum, n) => sum + 96 * 1024 + readme(n), 0));
    expect(await replicasFrom(s2, 'FPPS_1')).toEqual([]);
    expect(await s1.json<unknown[]>(['transfers'])).toEqual([]);
  });

  it('--imagetype pushes that type', async () => {
    await ok(s2, ['instantiate', 'image', '--server', 'FPPS_1', '--imagetype', 'GIHOME']);
    expect(await waitFor('GI_1', received, (r) => r.includes('GI_1'))).toEqual(['GI_1']);
  });

  it('--image pushes the descendants made on the peer, now and later, not the image itself', async () => {
    await ok(s2, ['instantiate', 'image', '--server', 'FPPS_1', '--image', 'DB_1']);
    expect(await waitFor('DB_2', received, (r) => r.includes('DB_2'))).toEqual(['DB_2', 'GI_1']);
    await add(s1, 'DB_3', '--type', 'DBHOME', '--from', 'DB_2');
    expect(await waitFor('DB_3', received, (r) => r.includes('DB_3'))).toEqual(['DB_2', 'DB_3', 'GI_1']);
    const db3 = await s2.json<ImageJson & { ancestors: string[] }>(['image', 'show', 'DB_3']);
    expect(db3).toMatchObject({ origin: 'FPPS_1', receivedFrom: 'FPPS_1', parentName: 'DB_2' });
    expect(db3.ancestors).toEqual(['DB_2']);
  });

  it('--series pushes its images, and images added to the series later', async () => {
    await ok(s2, ['instantiate', 'image', '--server', 'FPPS_1', '--series', 'DB19']);
    await waitFor('DB_1', received, (r) => r.includes('DB_1'));
    await add(s1, 'GI_2', '--type', 'SOFTWARE');
    await settled(s1);
    expect(await replicasFrom(s2, 'FPPS_1')).not.toContain('GI_2');
    await ok(s1, ['series', 'insert', 'DB19', '--image', 'GI_2']);
    expect(await waitFor('GI_2', received, (r) => r.includes('GI_2'))).toEqual([
      'DB_1',
      'DB_2',
      'DB_3',
      'GI_1',
      'GI_2',
    ]);
  });

  it('only PUBLISHED travels unless the filter asks for a state; private images never', async () => {
    expect(await received()).not.toContain('TEST_1');
    // The dry run reads the images as the instantiation would push them: in the state asked.
    const dry = ['instantiate', 'image', '--server', 'FPPS_1', '--all', '--state', 'TESTABLE', '--dry-run'];
    const plan = await s2.json<{ images: { meta: { name: string } }[]; bytesMissing: number }>(dry);
    expect(plan.images.map((i) => i.meta.name)).toEqual(['TEST_1']);
    expect(plan.bytesMissing).toBeGreaterThan(96 * 1024);
    expect(await received()).not.toContain('TEST_1');
    await ok(s2, ['instantiate', 'image', '--server', 'FPPS_1', '--all', '--state', 'TESTABLE']);
    await waitFor('TEST_1', received, (r) => r.includes('TEST_1'));
    await ok(s2, ['instantiate', 'image', '--server', 'FPPS_1', '--all']);
    const all = await waitFor('DB_OTHER', received, (r) => r.includes('DB_OTHER'));
    expect(all).toEqual(['DB_1', 'DB_2', 'DB_3', 'DB_OTHER', 'GI_1', 'GI_2', 'TEST_1']);
    // A state change that makes an image match pushes it too.
    await add(s1, 'LATE_1', '--state', 'RESTRICTED');
    await settled(s1);
    expect(await replicasFrom(s2, 'FPPS_1')).not.toContain('LATE_1');
    await ok(s1, ['image', 'state', 'LATE_1', 'PUBLISHED']);
    await waitFor('LATE_1', received, (r) => r.includes('LATE_1'));
    expect(await replicasFrom(s2, 'FPPS_1')).not.toContain('PRIV_1');
    expect(await replicasFrom(s2, 'FPPS_1')).not.toContain('PRIV_2');
    // Asking by name does not reach a private image either.
    const pull = await s2.cli(['image', 'pull', 'PRIV_1', '--server', 'FPPS_1']);
    expect(pull.code).toBe(3);
  });

  it('query peerserver shows instantiations both ways: what each end pushes to the other', async () => {
    type Both = { pushesTo: string[]; pushesHere: string[] };
    const [origin, receiver] = await Promise.all([
      s1.json<Both>(['query', 'peerserver', '--server', 'FPPS_2']),
      s2.json<Both>(['query', 'peerserver', '--server', 'FPPS_1']),
    ]);
    // The five instantiations FPPS_2 asked of FPPS_1 above, seen from both ends.
    expect(receiver.pushesHere).toHaveLength(5);
    expect([...receiver.pushesHere].sort()).toEqual([...origin.pushesTo].sort());
    expect(receiver.pushesTo).toEqual([]);
    expect(origin.pushesHere).toEqual([]);
    expect(receiver.pushesHere).toContain('--series DB19');
    const text = await ok(s2, ['query', 'peerserver', '--server', 'FPPS_1']);
    expect(text).toMatch(/^pushes to it:\s+-$/m);
    expect(text).toMatch(/^pushes here:\s+.*--series DB19/m);
    const table = await ok(s1, ['query', 'peerserver', '--no-probe']);
    expect(table.split('\n')[0]).toMatch(/PUSHES TO IT\s+PUSHES HERE$/);
  });

  it('replicas are read-only, keep the origin signature, and a second push is a no-op', async () => {
    const r = await s2.cli(['image', 'state', 'DB_1', 'TESTABLE']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/replica/);
    const [a, b] = await Promise.all([
      s1.json<ImageJson & { signature: string }>(['image', 'show', 'DB_1']),
      s2.json<ImageJson & { signature: string }>(['image', 'show', 'DB_1']),
    ]);
    expect(b.digest).toBe(a.digest);
    expect(b.signature).toBe(a.signature);
    const again = await s2.json<TransferJson>(['image', 'pull', 'DB_1', '--server', 'FPPS_1']);
    expect(again).toMatchObject({ outcome: 'present', wireBytes: 0, state: 'succeeded' });
    expect((await s2.cli(['image', 'verify', 'DB_3'])).code).toBe(0);
    const deploy = join(workDir(), 'deploy-db3');
    await ok(s2, ['image', 'deploy', 'DB_3', '--path', deploy]);
    expect(readFileSync(join(deploy, 'bin.dat')).equals(pseudoRandom('DB_3', 96 * 1024))).toBe(true);
  });

  it('series membership stays with the server that made it: a replica joins a series here only when told', async () => {
    const [there, here] = await Promise.all([
      s1.json<ImageJson & { series: string[] }>(['image', 'show', 'DB_1']),
      s2.json<ImageJson & { series: string[] }>(['image', 'show', 'DB_1']),
    ]);
    expect(there.series).toEqual(['DB19']);
    expect(here.series).toEqual([]);
    expect((await s2.cli(['series', 'show', 'DB19'])).code).toBe(3);
    await ok(s2, ['series', 'add', 'DB19']);
    await ok(s2, ['series', 'insert', 'DB19', '--image', 'DB_1']);
    expect((await s2.json<ImageJson & { series: string[] }>(['image', 'show', 'DB_1'])).series).toEqual([
      'DB19',
    ]);
  });

  it('transfers and transfer show report progress, bytes and outcome', async () => {
    const ts = await s1.json<TransferJson[]>(['transfers']);
    expect(ts.length).toBeGreaterThanOrEqual(9);
    expect(ts.every((t) => t.direction === 'push' && t.peer === 'FPPS_2' && t.state === 'succeeded')).toBe(
      true,
    );
    // A later filter matching DB_1 again queued a second push, which found it present.
    const again = ts.find((t) => t.image === 'DB_1' && t.outcome === 'present') as TransferJson;
    expect(again.wireBytes).toBe(0);
    const one = ts.find((t) => t.image === 'DB_1' && t.outcome === 'created') as TransferJson;
    expect(one.bytesTotal).toBe(96 * 1024 + 'home DB_1\n'.length);
    expect(one.wireBytes).toBeGreaterThan(96 * 1024);
    const shown = await s1.json<TransferJson>(['transfer', 'show', String(one.jobId)]);
    expect(shown).toMatchObject({ jobId: one.jobId, image: 'DB_1', outcome: 'created' });
    const text = await ok(s1, ['transfer', 'show', String(one.jobId)]);
    expect(text).toMatch(/on the wire:/);
  });

  it('does not chain: FPPS_3 gets FPPS_2’s own images, not the replicas FPPS_2 holds', async () => {
    await add(s2, 'B_OWN');
    await ok(s3, ['instantiate', 'image', '--server', 'FPPS_2', '--all']);
    await waitFor(
      'B_OWN on FPPS_3',
      () => replicasFrom(s3, 'FPPS_2'),
      (r) => r.includes('B_OWN'),
    );
    await settled(s2);
    expect(await replicasFrom(s3, 'FPPS_2')).toEqual(['B_OWN']);
    // Pulling a replica through FPPS_2 is refused the same way.
    expect((await s3.cli(['image', 'pull', 'DB_1', '--server', 'FPPS_2'])).code).toBe(3);
  });

  it('the receiving end lists the pushes it took, the serving end the pulls made from it', async () => {
    type Served = TransferJson & { bytesDone: number; startedAt: string };
    const pushed = (await s1.json<TransferJson[]>(['transfers'])).filter((t) => t.outcome === 'created');
    const inbound = await s2.json<Served[]>(['transfers', '--served', '--direction', 'in']);
    expect(inbound.every((t) => t.direction === 'in' && t.peer === 'FPPS_1' && t.state === 'done')).toBe(
      true,
    );
    expect(inbound.map((t) => t.image).sort()).toEqual(pushed.map((t) => t.image).sort());
    const db1 = inbound.find((t) => t.image === 'DB_1') as Served;
    const sent = pushed.find((t) => t.image === 'DB_1') as TransferJson;
    expect(db1).toMatchObject({
      bytesTotal: sent.bytesTotal,
      bytesDone: sent.bytesTotal,
      outcome: 'created',
    });
    expect(db1.wireBytes).toBeGreaterThan(96 * 1024);

    // FPPS_3 (PostgreSQL) keeps the record of a pull made from it, and of FPPS_2's pushes.
    await add(s3, 'C_PULL');
    await ok(s2, ['image', 'pull', 'C_PULL', '--server', 'FPPS_3']);
    const [out] = await s3.json<Served[]>(['transfers', '--served', '--direction', 'out']);
    expect(out).toMatchObject({ peer: 'FPPS_2', image: 'C_PULL', state: 'done', outcome: 'created' });
    expect(out?.bytesDone).toBe(out?.bytesTotal);
    expect(out?.wireBytes).toBeGreaterThan(96 * 1024);
    const onPg = await s3.json<Served[]>(['transfers', '--served', '--direction', 'in', '--peer', 'FPPS_2']);
    expect(onPg.map((t) => t.image)).toContain('B_OWN');
    expect(await ok(s3, ['transfers', '--served'])).toMatch(/out\s+FPPS_2\s+C_PULL\s+done\s+100%/);
    const wrong = await s2.cli(['transfers', '--direction', 'in']);
    expect(wrong.code, wrong.stderr).toBe(2);
  });

  it('uninstantiate stops later pushes; existing replicas stay', async () => {
    for (const f of [
      ['--all'],
      ['--all', '--state', 'TESTABLE'],
      ['--series', 'DB19'],
      ['--image', 'DB_1'],
      ['--imagetype', 'GIHOME'],
    ]) {
      await ok(s2, ['uninstantiate', 'image', '--server', 'FPPS_1', ...f]);
    }
    const peer = await s1.json<{ pushesTo: string[] }>(['query', 'peerserver', '--server', 'FPPS_2']);
    expect(peer.pushesTo).toEqual([]);
    await add(s1, 'DB_4', '--type', 'DBHOME', '--from', 'DB_3', '--series', 'DB19');
    await settled(s1);
    expect(await replicasFrom(s2, 'FPPS_1')).not.toContain('DB_4');
    expect(await replicasFrom(s2, 'FPPS_1')).toContain('DB_3');
  });

  it('refuses names that collide with clients, targets, peers or itself', async () => {
    await ok(s1, ['add', 'client', 'dbnode01']);
    const collide = await s1.cli(['add', 'target', 'FPPS_2']);
    expect(collide.code).toBe(4);
    expect(collide.stderr).toMatch(/peer/);
    // A server-data file naming a client of this server.
    const data = JSON.parse(readFileSync(await exportServer(s3, 'FPPS_3'), 'utf8'));
    const asClient = writeJson({ ...data, name: 'dbnode01' });
    const r = await s1.cli(['register', 'server', '--server', 'dbnode01', '--serverdata', asClient]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/client/);
    const self = await s1.cli([
      'register',
      'server',
      '--server',
      'FPPS_1',
      '--serverdata',
      await exportServer(s1, 'FPPS_1'),
    ]);
    expect(self.code).toBe(4);
    const mismatch = await s1.cli(['register', 'server', '--server', 'OTHER', '--serverdata', asClient]);
    expect(mismatch.code).toBe(2);
    expect((await s1.json<{ name: string }[]>(['query', 'client'])).map((h) => h.name)).toEqual(['dbnode01']);
    expect((await s1.json<unknown[]>(['query', 'peerserver', '--no-probe'])).length).toBe(1);
  });

  it('names an unknown peer clearly', async () => {
    const r = await s2.cli(['instantiate', 'image', '--server', 'NOPE', '--all']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no peer named NOPE/);
    expect((await s2.cli(['image', 'pull', 'DB_1', '--server', 'NOPE'])).code).toBe(3);
    expect((await s2.cli(['instantiate', 'image', '--server', 'FPPS_1'])).code).toBe(2);
  });

  it('unregister keeps replicas, refuses the peer at once, and pushes to it fail saying why', async () => {
    await ok(s2, ['instantiate', 'image', '--server', 'FPPS_1', '--imagetype', 'GIHOME']);
    await ok(s2, ['unregister', 'server', '--server', 'FPPS_1']);
    expect(await replicasFrom(s2, 'FPPS_1')).toEqual([
      'DB_1',
      'DB_2',
      'DB_3',
      'DB_OTHER',
      'GI_1',
      'GI_2',
      'LATE_1',
      'TEST_1',
    ]);
    const seen = await s1.json<{ reachable: boolean; error?: string }>([
      'query',
      'peerserver',
      '--server',
      'FPPS_2',
    ]);
    expect(seen.reachable).toBe(false);
    await add(s1, 'GI_3', '--type', 'GIHOME');
    const failed = await waitFor(
      'the push of GI_3 to fail',
      async () => (await s1.json<TransferJson[]>(['transfers'])).find((t) => t.image === 'GI_3'),
      (t) => t?.state === 'failed',
      90_000,
    );
    expect(failed?.attempts).toBe(5);
    expect(failed?.error).toMatch(/FPPS_2/);
    expect(await replicasFrom(s2, 'FPPS_1')).not.toContain('GI_3');
  }, 120_000);
});

/**
 * Two real servers with the same cluster name, FPPS (one on SQLite, one on PostgreSQL):
 * cluster names can match, so a server is known by its signing key. Each registers the
 * other under a local name (`--as`), images move both ways and through a bundle, and every
 * image says which server made it by name and by key.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TempDatabase, tempDatabase } from '../support/databases.js';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import {
  exportServer,
  type ImageJson,
  settled,
  type TransferJson,
  waitFor,
  workDir,
} from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

interface PeerJson {
  name: string;
  clusterName: string;
  keyId: string;
  reachable?: boolean;
}

type Shown = ImageJson & { originKeyId: string | null };

let a: IngotServer;
let b: IngotServer;
let pg: TempDatabase;
let fileA: string;
let fileB: string;

async function ok(server: IngotServer, args: string[]): Promise<string> {
  const r = await server.cli(args);
  expect(r.code, `ingot ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function add(server: IngotServer, name: string): Promise<void> {
  const dir = join(workDir(), `same-name-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bin.dat'), pseudoRandom(name, 64 * 1024));
  await ok(server, ['image', 'add', name, '--path', dir]);
}

const show = async (server: IngotServer, name: string) => server.json<Shown>(['image', 'show', name]);

beforeAll(async () => {
  pg = await tempDatabase('postgres');
  [a, b] = await Promise.all([startIngot({ name: 'FPPS' }), startIngot({ name: 'FPPS', db: pg.url })]);
  [fileA, fileB] = await Promise.all([exportServer(a, 'FPPS_A'), exportServer(b, 'FPPS_B')]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await pg?.cleanup();
});

describe('two servers with one cluster name', () => {
  it('register each other: the name is taken here, so each needs --as', async () => {
    const plain = await a.cli(['register', 'server', '--server', 'FPPS', '--serverdata', fileB]);
    expect(plain.code).toBe(4);
    expect(plain.stderr).toContain('AMBIGUOUS_NAME');
    expect(plain.stderr).toContain("FPPS is also this server's own cluster name");
    expect(plain.stderr).toContain('--as');
    await ok(a, ['register', 'server', '--server', 'FPPS', '--serverdata', fileB, '--as', 'FPPS_B']);
    await ok(b, ['register', 'server', '--server', 'FPPS', '--serverdata', fileA, '--as', 'FPPS_A']);
    const [onA] = await a.json<PeerJson[]>(['query', 'peerserver']);
    const [onB] = await b.json<PeerJson[]>(['query', 'peerserver']);
    expect(onA).toMatchObject({ name: 'FPPS_B', clusterName: 'FPPS', reachable: true });
    expect(onB).toMatchObject({ name: 'FPPS_A', clusterName: 'FPPS', reachable: true });
    expect(onA?.keyId).toMatch(/^[0-9a-f]{64}$/);
    expect(onA?.keyId).not.toBe(onB?.keyId);
    expect(await ok(a, ['query', 'peerserver', '--server', 'FPPS_B'])).toMatch(/cluster name:\s+FPPS\n/);
  });

  it("refuses this server's own key, and a key registered already, whatever the name", async () => {
    const own = await a.cli(['register', 'server', '--server', 'FPPS', '--serverdata', fileA, '--as', 'ME']);
    expect(own.code).toBe(4);
    expect(own.stderr).toContain('CONFLICT');
    expect(own.stderr).toContain('that server-data file describes this server itself');
    const again = await a.cli([
      'register',
      'server',
      '--server',
      'FPPS',
      '--serverdata',
      fileB,
      '--as',
      'FPPS_C',
    ]);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain('CONFLICT');
    expect(again.stderr).toContain('that signing key is already registered as peer FPPS_B');
    expect((await a.json<PeerJson[]>(['query', 'peerserver'])).map((p) => p.name)).toEqual(['FPPS_B']);
  });

  it('pulls and pushes between them; image show gives the origin by name and key', async () => {
    const keyOfA = (await b.json<PeerJson>(['query', 'peerserver', '--server', 'FPPS_A'])).keyId;
    const keyOfB = (await a.json<PeerJson>(['query', 'peerserver', '--server', 'FPPS_B'])).keyId;
    await add(a, 'IMG_A');
    await add(b, 'IMG_B');
    expect(await show(a, 'IMG_A')).toMatchObject({ origin: 'FPPS', originKeyId: keyOfA, receivedFrom: null });

    await ok(a, ['image', 'pull', 'IMG_B', '--server', 'FPPS_B']);
    await waitFor(
      'IMG_B on FPPS_A',
      () => a.json<ImageJson[]>(['query', 'image', '--server', 'FPPS_B']),
      (l) => l.some((i) => i.name === 'IMG_B'),
    );
    expect(await show(a, 'IMG_B')).toMatchObject({
      origin: 'FPPS',
      originKeyId: keyOfB,
      receivedFrom: 'FPPS_B',
    });
    await ok(a, ['image', 'verify', 'IMG_B']);
    // A deploying client checks the signature of the server's own images only: by key, so
    // the other FPPS's replica deploys, and so does this server's own.
    const out = tempDir('ingot-same-name-out-');
    await ok(a, ['image', 'deploy', 'IMG_B', '--path', join(out, 'b')]);
    await ok(a, ['image', 'deploy', 'IMG_A', '--path', join(out, 'a')]);
    expect(readFileSync(join(out, 'b', 'bin.dat'))).toEqual(pseudoRandom('IMG_B', 64 * 1024));
    expect(await ok(a, ['image', 'show', 'IMG_B'])).toContain(`origin key:     ${keyOfB}`);

    // B asks A for everything A made: A's own image, never the replica of B's it holds.
    await ok(b, ['instantiate', 'image', '--server', 'FPPS_A', '--all']);
    await waitFor(
      'IMG_A on FPPS_B',
      () => b.json<ImageJson[]>(['query', 'image', '--server', 'FPPS_A']),
      (l) => l.some((i) => i.name === 'IMG_A'),
    );
    const pushes = await settled(a);
    expect(pushes.filter((t: TransferJson) => t.direction === 'push').map((t) => t.image)).toEqual(['IMG_A']);
    expect(await show(b, 'IMG_A')).toMatchObject({
      origin: 'FPPS',
      originKeyId: keyOfA,
      receivedFrom: 'FPPS_A',
    });
    expect(await show(b, 'IMG_B')).toMatchObject({ originKeyId: keyOfB, receivedFrom: null });
  });

  it("takes a bundle made by the other FPPS, attributed to that server's key", async () => {
    const keyOfB = (await a.json<PeerJson>(['query', 'peerserver', '--server', 'FPPS_B'])).keyId;
    await add(b, 'IMG_B2');
    const usb = tempDir('ingot-usb-');
    await ok(b, ['bundle', 'create', '--image', 'IMG_B2', '--out', usb]);
    await ok(a, ['bundle', 'import', join(usb, 'IMG_B2.ingot')]);
    expect(await show(a, 'IMG_B2')).toMatchObject({ origin: 'FPPS', originKeyId: keyOfB });
    await ok(a, ['image', 'verify', 'IMG_B2']);
  });
});

/**
 * `export snapshot` / `import snapshot` (seed 004): a server with a peer, a template it
 * follows, its own images and an --include directory is snapshotted while it runs, then
 * rebuilt on fresh homes (the catalog into SQLite, and into PostgreSQL) and started: the
 * peer still trusts it and it the peer, over mutual TLS, with no new registration. A
 * tampered, partial, newer or wrongly unlocked snapshot, and a used home, are refused
 * with nothing written.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDocument } from '../../src/federation/signed-document.js';
import { identityOf } from '../support/bundles.js';
import { DIALECTS, type TempDatabase, tempDatabase } from '../support/databases.js';
import { type IngotServer, runCli, startIngot, tempDir } from '../support/ingot.js';
import { type ImageJson, pair, waitFor, workDir } from '../support/peers.js';
import { diskFile } from '../support/trees.js';

let hq: IngotServer;
let fpps: IngotServer;
const work = tempDir('ingot-snapshot-');
const snapshot = join(work, 'fpps1');
const pass = join(work, 'pass.txt');
const hooks = join(work, 'hooks');
let before: ImageJson[];
const contents = new Map<string, Buffer>();

async function ok(server: IngotServer, args: string[]): Promise<string> {
  const r = await server.cli(args);
  expect(r.code, `ingot ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function addDisk(server: IngotServer, name: string, from?: string): Promise<void> {
  const file = diskFile(workDir(), name, 600_000, contents, from);
  await ok(server, [
    'image',
    'add',
    name,
    '--file',
    file,
    '--type',
    'DISKIMAGE',
    ...(from ? ['--from', from] : []),
  ]);
}

function importInto(home: string, dir: string, extra: string[] = []) {
  return runCli(['import', 'snapshot', dir, '--passphrase-file', pass, ...extra], { INGOT_HOME: home });
}

/** A copy of the snapshot to spoil. */
function copyOf(name: string): string {
  const dir = join(work, name);
  cpSync(snapshot, dir, { recursive: true });
  return dir;
}

/** A copy whose manifest body is edited and signed again with the server's own key. */
async function resigned(name: string, edit: (body: Record<string, unknown>) => Record<string, unknown>) {
  const dir = copyOf(name);
  const file = join(dir, 'snapshot.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { body: string };
  const body = edit(JSON.parse(doc.body) as Record<string, unknown>);
  writeFileSync(file, JSON.stringify(signDocument(await identityOf(fpps), 'snapshot', body as never)));
  return dir;
}

const sorted = (images: ImageJson[]) =>
  images
    .map((i) => ({ name: i.name, digest: i.digest, state: i.state, origin: i.origin }))
    .sort((a, b) => a.name.localeCompare(b.name));

beforeAll(async () => {
  [hq, fpps] = await Promise.all([startIngot({ name: 'HQ' }), startIngot({ name: 'FPPS1' })]);
  await pair({ server: hq, name: 'HQ' }, { server: fpps, name: 'FPPS1' });
  await addDisk(hq, 'WIN_1');
  await ok(hq, ['template', 'create', 'STORE']);
  await ok(hq, ['template', 'add', 'STORE', '--image', 'WIN_1']);
  await ok(hq, ['template', 'publish', 'STORE']);
  await ok(fpps, ['follow', '--upstream', 'HQ', '--template', 'STORE', '--every', '1h']);
  await waitFor(
    'the first sync',
    async () => (await fpps.json<{ lastStatus: string | null }[]>(['following']))[0],
    (f) => f?.lastStatus === 'ok',
  );
  await ok(fpps, ['modify', 'peerserver', '--server', 'HQ', '--allow-uploads', 'on']);
  await addDisk(fpps, 'OWN_1');
  await addDisk(fpps, 'OWN_1_P1', 'OWN_1');
  for (const name of ['OWN_1', 'OWN_1_P1']) await ok(fpps, ['image', 'state', name, 'PUBLISHED']);
  mkdirSync(join(hooks, 'post.d'), { recursive: true });
  writeFileSync(join(hooks, 'post.d', 'notify.sh'), '#!/bin/sh\necho deployed\n', { mode: 0o750 });
  writeFileSync(pass, 'correct horse battery staple\n', { mode: 0o600 });
  before = await fpps.json<ImageJson[]>(['image', 'list']);
  const r = await fpps.json<{ images: number; files: number }>([
    'export',
    'snapshot',
    '--to',
    snapshot,
    '--with-images',
    '--include',
    hooks,
    '--passphrase-file',
    pass,
  ]);
  expect(r.images).toBe(3);
  // The original goes away (as a replaced machine would); its peer port is the restored one's.
  await fpps.stop();
}, 120_000);

afterAll(async () => {
  await Promise.all([hq?.stop(), fpps?.stop()]);
});

describe('a snapshot on disk', () => {
  it('seals the secrets and lists every file with its digest in a signed manifest', () => {
    const manifest = JSON.parse(readFileSync(join(snapshot, 'snapshot.json'), 'utf8')) as { body: string };
    const body = JSON.parse(manifest.body) as { files: { path: string }[]; server: string; version: string };
    expect(body).toMatchObject({ server: 'FPPS1', version: '1.0' });
    expect(body.files.map((f) => f.path)).toEqual(
      expect.arrayContaining([
        'secrets.sealed',
        'catalog/peers.jsonl',
        'home/config.json',
        'images/images.ingot',
      ]),
    );
    const token = readFileSync(join(fpps.home, 'token'), 'utf8').trim();
    const key = readFileSync(join(fpps.home, 'keys', 'signing.key'));
    const sealed = readFileSync(join(snapshot, 'secrets.sealed'));
    expect(sealed.includes(token)).toBe(false);
    expect(sealed.includes(key.subarray(30, 60))).toBe(false);
    expect(existsSync(join(snapshot, 'home', 'keys', 'signing.key'))).toBe(false);
  });
});

describe('refused with nothing written', () => {
  async function refused(dir: string, code: number, message: RegExp, extra: string[] = []) {
    const home = join(work, `home-${Math.random().toString(36).slice(2)}`);
    const r = await importInto(home, dir, extra);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(existsSync(home)).toBe(false);
  }

  it('a tampered snapshot (one byte changed)', async () => {
    const dir = copyOf('tampered');
    const file = join(dir, 'catalog', 'peers.jsonl');
    const bytes = readFileSync(file);
    bytes[10] = (bytes[10] as number) ^ 1;
    writeFileSync(file, bytes);
    await refused(dir, 65, /were changed after it was made/);
  });

  it('a partial snapshot (a file missing)', async () => {
    const dir = copyOf('partial');
    rmSync(join(dir, 'images', 'images.ingot'));
    await refused(dir, 65, /partial: 1 file\(s\) missing/);
  });

  it('a wrong passphrase', async () => {
    const wrong = join(work, 'wrong.txt');
    writeFileSync(wrong, 'not the passphrase\n');
    const home = join(work, 'home-wrong');
    const r = await runCli(['import', 'snapshot', snapshot, '--passphrase-file', wrong], {
      INGOT_HOME: home,
    });
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/passphrase does not open/);
    expect(existsSync(home)).toBe(false);
  });

  it('a snapshot of a newer major format version, even signed', async () => {
    const dir = await resigned('newer', (body) => ({ ...body, version: '2.0' }));
    await refused(dir, 4, /snapshot format 2\.0 is not one this Ingot reads/);
  });

  it('an included path that would escape, even signed', async () => {
    const dir = await resigned('escape', (body) => ({
      ...body,
      include: (body.include as object[]).map((e, i) =>
        i === 0 ? { ...e, path: `${hooks}/../../escaped` } : e,
      ),
    }));
    await refused(dir, 65, /outside a plain absolute path/);
    expect(existsSync(join(work, '..', 'escaped'))).toBe(false);
  });

  it('a home that already has a server', async () => {
    const listing = readdirSync(hq.home).sort();
    const config = readFileSync(join(hq.home, 'config.json'), 'utf8');
    const r = await importInto(hq.home, snapshot);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/already has a server/);
    expect(readdirSync(hq.home).sort()).toEqual(listing);
    expect(readFileSync(join(hq.home, 'config.json'), 'utf8')).toBe(config);
  });
});

describe.each(DIALECTS)('restored with its catalog in %s', (dialect) => {
  let db: TempDatabase | undefined;
  let restored: IngotServer;
  const home = join(work, `restored-${dialect}`);
  const root = join(work, `root-${dialect}`);

  beforeAll(async () => {
    db = dialect === 'postgres' ? await tempDatabase('postgres') : undefined;
    const r = await importInto(home, snapshot, [
      '--include-root',
      root,
      '--listen',
      '127.0.0.1:0',
      ...(db ? ['--db', db.url] : []),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored FPPS1/);
    restored = await startIngot({ home, peerPort: fpps.peerPort });
  }, 120_000);

  afterAll(async () => {
    await restored?.stop();
    await db?.cleanup();
  });

  it('lists the same images, deploys them byte-exact, and keeps its identity and settings', async () => {
    expect(sorted(await restored.json<ImageJson[]>(['image', 'list']))).toEqual(sorted(before));
    const out = join(work, `OWN_1_P1.${dialect}`);
    await ok(restored, ['image', 'deploy', 'OWN_1_P1', '--path', out]);
    expect(readFileSync(out).equals(contents.get('OWN_1_P1') as Buffer)).toBe(true);
    expect(readFileSync(join(restored.home, 'token'), 'utf8')).toBe(
      readFileSync(join(fpps.home, 'token'), 'utf8'),
    );
    const config = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      clusterName: 'FPPS1',
      listen: '127.0.0.1:0',
      ...(db ? { dbUrl: db.url } : {}),
    });
    const hook = join(root, hooks, 'post.d', 'notify.sh');
    expect(readFileSync(hook, 'utf8')).toMatch(/deployed/);
  });

  it('its following resumes: it pulls the next template version from the peer over mutual TLS', async () => {
    const next = `WIN_${dialect.toUpperCase()}`;
    await addDisk(hq, next);
    await ok(hq, ['template', 'add', 'STORE', '--image', next]);
    await ok(hq, ['template', 'publish', 'STORE']);
    const [s] = await restored.json<{ images: { name: string; outcome: string }[] }[]>(['sync', '--now']);
    expect(s?.images.find((i) => i.name === next)?.outcome).toBe('fetched');
    expect((await restored.cli(['image', 'verify', next])).code).toBe(0);
  });

  it('the peer pulls from it, pinning the same certificate and key', async () => {
    const name = dialect === 'sqlite' ? 'OWN_1' : 'OWN_1_P1';
    await ok(hq, ['image', 'pull', name, '--server', 'FPPS1']);
    expect(await hq.json<ImageJson>(['image', 'show', name])).toMatchObject({
      origin: 'FPPS1',
      receivedFrom: 'FPPS1',
    });
    expect((await hq.cli(['image', 'verify', name])).code).toBe(0);
  });

  it.runIf(dialect === 'sqlite')(
    'with --images, carries those alone, and the catalog lists no other',
    async () => {
      const dir = join(work, 'only-own-1');
      await ok(restored, ['export', 'snapshot', '--to', dir, '--images', 'OWN_1', '--passphrase-file', pass]);
      const third = join(work, 'home-only-own-1');
      const r = await importInto(third, dir);
      expect(r.code, r.stderr).toBe(0);
      const server = await startIngot({ home: third });
      try {
        expect((await server.json<ImageJson[]>(['image', 'list'])).map((i) => i.name)).toEqual(['OWN_1']);
        expect((await server.cli(['image', 'verify', 'OWN_1'])).code).toBe(0);
      } finally {
        await server.stop();
      }
    },
  );

  it('the peer pushes to it without registering it again', async () => {
    const name = `PUSH_${dialect.toUpperCase()}`;
    await addDisk(hq, name);
    await ok(hq, ['image', 'push', name, '--server', 'FPPS1']);
    const img = await restored.json<ImageJson>(['image', 'show', name]);
    expect(img).toMatchObject({ origin: 'HQ' });
    expect((await restored.cli(['image', 'verify', name])).code).toBe(0);
  });
});

import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, type IngotServer, runCli, startIngot, tempDir } from '../support/ingot.js';
import { createBucket, type RunningMoto, startMoto } from '../support/moto.js';
import { useMoto } from '../support/moto-hooks.js';
import { pair, type TransferJson } from '../support/peers.js';
import { freshPgDatabase } from '../support/postgres.js';
import { describeTree, makeRichTree, pseudoRandom } from '../support/trees.js';

/**
 * Two nodes of one server (their own INGOT_HOMEs, one identity) on one PostgreSQL catalog
 * and one S3 bucket (moto), and a peer on its own local store that pulls from it and is
 * pulled from.
 */
const motoServer = useMoto();
const PREFIX = 'gold/ingot';

function s3Store(moto: RunningMoto, bucket: string): string {
  return `s3://${bucket}/${PREFIX}?endpoint=${moto.endpoint}&region=us-east-1`;
}

describe('two nodes on one PostgreSQL and one S3 bucket', () => {
  let a: IngotServer;
  let b: IngotServer;
  let peer: IngotServer;
  let bucket: string;
  let work: string;
  let db: { url: string; drop(): Promise<void> };

  beforeAll(async () => {
    const moto = motoServer();
    db = await freshPgDatabase(inject('pgUrl'));
    bucket = await createBucket(moto);
    work = tempDir('ingot-s3-work-');
    const env = { ...moto.credentials, INGOT_STORE: s3Store(moto, bucket) };
    a = await startIngot({ name: 'FPPS_1', db: db.url, env });
    const home = tempDir('ingot-home-b-');
    cpSync(join(a.home, 'keys'), join(home, 'keys'), { recursive: true });
    cpSync(join(a.home, 'config.json'), join(home, 'config.json'));
    b = await startIngot({ home, db: db.url, env });
    peer = await startIngot({ name: 'FPPS_2' });
    await pair({ server: a, name: 'FPPS_1' }, { server: peer, name: 'FPPS_2' });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await peer?.stop();
    await db?.drop();
  });

  it('deploys through one node an image added through the other, all of it in the bucket', async () => {
    const src = join(work, 'home');
    makeRichTree(src);
    await ok(a, ['image', 'add', 'DBHOME_1', '--path', src]);
    const listed = await b.json<{ name: string }[]>(['image', 'list']);
    expect(listed.map((i) => i.name)).toEqual(['DBHOME_1']);
    const dest = join(work, 'deployed');
    await ok(b, ['image', 'deploy', 'DBHOME_1', '--path', dest]);
    expect(describeTree(dest)).toEqual(describeTree(src));
    await ok(b, ['image', 'verify', 'DBHOME_1']);

    const { digest } = await a.json<{ digest: string }>(['image', 'show', 'DBHOME_1']);
    const keys = await bucketKeys(motoServer(), bucket);
    expect(keys).toContain(`${PREFIX}/manifests-v1/${digest.slice(0, 2)}/${digest}.json`);
    expect(keys.some((k) => /^gold\/ingot\/segments-v1\/\d{6}\/\d{12}\.pack$/.test(k))).toBe(true);
    expect(keys.every((k) => k.startsWith(`${PREFIX}/`))).toBe(true);
    // Neither node keeps chunks or manifests of its own.
    for (const node of [a, b]) expect(readdirSync(join(node.home, 'store'))).toEqual([]);
  });

  it('a peer pulls an image out of the bucket, and a node pulls one into it', async () => {
    const pulled = await peer.json<TransferJson>(['image', 'pull', 'DBHOME_1', '--server', 'FPPS_1']);
    expect(pulled.state).toBe('succeeded');
    const dest = join(work, 'on-peer');
    await ok(peer, ['image', 'deploy', 'DBHOME_1', '--path', dest]);
    expect(describeTree(dest)).toEqual(describeTree(join(work, 'home')));

    const file = join(work, 'disk.img');
    writeFileSync(file, pseudoRandom('s3-pull', 5 * 2 ** 20));
    await ok(peer, ['image', 'add', 'DISK_2', '--file', file]);
    const back = await b.json<TransferJson>(['image', 'pull', 'DISK_2', '--server', 'FPPS_2']);
    expect(back).toMatchObject({ state: 'succeeded', image: 'DISK_2' });
    await ok(a, ['image', 'verify', 'DISK_2']);
    const out = join(work, 'disk-out');
    await ok(a, ['image', 'deploy', 'DISK_2', '--path', out]);
    expect(readFileSync(out).equals(readFileSync(file))).toBe(true);
  });

  it('collects through one node what was deleted through the other, manifests and segments too', async () => {
    const file = join(work, 'gc.img');
    writeFileSync(file, pseudoRandom('s3-gc', 3 * 2 ** 20));
    await ok(b, ['image', 'add', 'DISK_GC', '--file', file]);
    const { digest } = await b.json<{ digest: string }>(['image', 'show', 'DISK_GC']);
    const manifest = `${PREFIX}/manifests-v1/${digest.slice(0, 2)}/${digest}.json`;
    expect(await bucketKeys(motoServer(), bucket)).toContain(manifest);
    const before = await chunkRows(db.url);
    await ok(b, ['image', 'delete', 'DISK_GC']);
    const { result } = await a.json<{ result: { deletedChunks: number; deletedManifests: number } }>([
      'gc',
      '--grace',
      '0',
    ]);
    expect(result.deletedChunks).toBeGreaterThan(0);
    expect(result.deletedManifests).toBe(1);
    expect(await chunkRows(db.url)).toBe(before - result.deletedChunks);
    expect(await bucketKeys(motoServer(), bucket)).not.toContain(manifest);
    const dest = join(work, 'after-gc');
    await ok(a, ['image', 'deploy', 'DBHOME_1', '--path', dest]);
    expect(describeTree(dest)).toEqual(describeTree(join(work, 'home')));
    await ok(b, ['image', 'verify', 'DISK_2']);
  });
});

describe('an S3 store that cannot be used stops the start, having written nothing', () => {
  let locked: RunningMoto;
  beforeAll(async () => {
    locked = await startMoto({ checkCredentials: true });
  });
  afterAll(async () => {
    await locked?.stop();
  });

  it('names the endpoint that does not answer, the missing bucket, the refused credentials', async () => {
    const moto = motoServer();
    const bucket = await createBucket(moto);
    const closed = `http://127.0.0.1:${await freePort()}`;
    const cases: [string, Record<string, string>, RegExp][] = [
      [
        `s3://${bucket}/x?endpoint=${closed}`,
        moto.credentials,
        /cannot reach bucket .* at http:\/\/127\.0\.0\.1:\d+/,
      ],
      [
        `s3://no-such-bucket-here/x?endpoint=${moto.endpoint}`,
        moto.credentials,
        /bucket no-such-bucket-here does not exist/,
      ],
      [`s3://${bucket}/x?endpoint=${locked.endpoint}`, moto.credentials, /refused access/],
    ];
    for (const [store, env, message] of cases) {
      const home = tempDir();
      const catalog = await freshPgDatabase(inject('pgUrl'));
      try {
        const r = await runCli(['serve', '--listen', '127.0.0.1:0', '--db', catalog.url, '--store', store], {
          ...env,
          INGOT_HOME: home,
        });
        expect(r.stderr).toMatch(message);
        expect(r.code).toBe(69);
        expect(await tableCount(catalog.url)).toBe(0);
        expect(readdirSync(home)).not.toContain('keys');
      } finally {
        await catalog.drop();
      }
    }
    expect(await bucketKeys(moto, bucket)).toEqual([]);
  });
});

async function ok(server: IngotServer, args: string[]): Promise<void> {
  const r = await server.cli(args);
  expect(r.code, `ingot ${args.join(' ')}: ${r.stderr}`).toBe(0);
}

async function bucketKeys(moto: RunningMoto, bucket: string): Promise<string[]> {
  const client = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true });
  const keys: string[] = [];
  try {
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.NextContinuationToken;
    } while (token);
  } finally {
    client.destroy();
  }
  return keys;
}

async function query<T>(url: string, text: string): Promise<T | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows[0] as T | undefined;
  } finally {
    await client.end();
  }
}

async function chunkRows(url: string): Promise<number> {
  return Number((await query<{ n: string }>(url, 'select count(*) as n from store_chunks'))?.n);
}

async function tableCount(url: string): Promise<number> {
  const sql = "select count(*) as n from information_schema.tables where table_schema = 'public'";
  return Number((await query<{ n: string }>(url, sql))?.n);
}

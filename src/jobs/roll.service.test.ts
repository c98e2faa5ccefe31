import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { movableClock } from '../../test/support/clock.js';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { releaseMessage } from '../core/release-signature.js';
import { type Db, openDatabase } from '../db/database.js';
import { LocalChunkStore } from '../store/local-chunk-store.js';
import { NodeRegistry } from './node-registry.js';
import { ReleaseService } from './release.service.js';
import { RollService } from './roll.service.js';

const IDENTITY = { cluster_name: 'FPPS_1', signing_key_id: 'k1', peer_cert_fingerprint: 'f1' };
const DEPS = { fastify: '^5.4.0' };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An npm-style tarball (package/...) made by tar from these files. */
function tarball(dir: string, files: Record<string, string>): Buffer {
  const root = mkdtempSync(join(dir, 'pkg-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, 'package', path, '..'), { recursive: true });
    writeFileSync(join(root, 'package', path), text);
  }
  execFileSync('tar', ['-czf', join(root, 'r.tgz'), '-C', root, 'package']);
  return readFileSync(join(root, 'r.tgz'));
}

const release = (dir: string, version: string, extra: Record<string, string> = {}) =>
  tarball(dir, {
    'package.json': JSON.stringify({ name: 'ingot', version, dependencies: DEPS }),
    'bin/ingot.js': '',
    'dist/main/cli.js': '',
    ...extra,
  });

describe.each(DIALECTS)('releases and rolls (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  let dir: string;
  let releases: ReleaseService;
  const clock = movableClock();
  const node = (id: string, version = '0.1.0') =>
    new NodeRegistry(db, { id, version, identity: IDENTITY }, undefined, clock);
  const rolls = (on: NodeRegistry, dependencies: Record<string, string> = DEPS) =>
    new RollService({ db, nodes: on, releases, dependencies, clock });
  const start = async (id: string, version?: string) => {
    const n = node(id, version);
    await n.join();
    await n.serving(`http://${id}`, `https://${id}`);
    return n;
  };

  beforeEach(async () => {
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    dir = mkdtempSync(join(tmpdir(), 'ingot-roll-'));
    releases = new ReleaseService({ db, store: new LocalChunkStore(join(dir, 'store')), env: {} });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a release only when it matches its SHA-256 and is an Ingot package', async () => {
    const good = release(dir, '0.2.0');
    await expect(releases.add(good, '0'.repeat(64))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(releases.add(good, 'ABC')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const refused: Buffer[] = [
      Buffer.from('not gzip'),
      tarball(dir, { 'README.md': 'no package.json' }),
      tarball(dir, { 'package.json': '{not json' }),
      release(dir, '0.2.0', { 'package.json': JSON.stringify({ name: 'other', version: '0.2.0' }) }),
      release(dir, '0.2.0', { 'package.json': JSON.stringify({ name: 'ingot', version: '../../x' }) }),
      tarball(dir, {
        'package.json': JSON.stringify({ name: 'ingot', version: '0.2.0' }),
        'bin/ingot.js': '',
      }),
      good.subarray(0, good.length - 40),
    ];
    for (const bytes of refused) {
      await expect(releases.add(bytes, sha(bytes))).rejects.toMatchObject({ code: 'BAD_ARCHIVE' });
    }
    expect(await releases.list()).toEqual([]);
    const kept = await releases.add(good, sha(good));
    expect(kept).toMatchObject({
      version: '0.2.0',
      sha256: sha(good),
      bytes: good.length,
      dependencies: DEPS,
      signer: null,
    });
    expect(await releases.add(good, sha(good))).toEqual(kept);
    const other = release(dir, '0.2.0', { 'dist/extra.js': 'changed' });
    await expect(releases.add(other, sha(other))).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect((await releases.tarball('0.2.0')).equals(good)).toBe(true);
    expect(await releases.chunkDigests()).toHaveLength(kept.chunks);
    await expect(releases.show('9.9.9')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps a release only signed by a trusted publisher key once one is trusted, recording which', async () => {
    const good = release(dir, '0.2.0');
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const signed = (bytes: Buffer) => sign(null, releaseMessage(sha(bytes)), privateKey).toString('base64');
    const stranger = generateKeyPairSync('ed25519').privateKey;
    await expect(releases.add(good, sha(good), signed(good))).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
    });
    const acme = await releases.publishers.add(
      publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      'acme',
    );
    const other = release(dir, '0.2.1');
    for (const signature of [
      undefined,
      sign(null, releaseMessage(sha(good)), stranger).toString('base64'),
      signed(other),
    ]) {
      await expect(releases.add(good, sha(good), signature)).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    }
    await expect(releases.add(good, sha(good), 'not base64')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect([await releases.list(), await releases.chunkDigests()]).toEqual([[], []]);
    const kept = await releases.add(good, sha(good), signed(good));
    expect(kept.signer).toEqual({ keyId: acme.keyId, name: 'acme' });
    await releases.publishers.remove('acme');
    expect((await releases.show('0.2.0')).signer).toEqual({ keyId: acme.keyId, name: 'acme' });
    expect((await releases.add(other, sha(other))).signer).toBeNull();
  });

  it('plans every serving node, the leader last, and drives one step at a time from the rows', async () => {
    const [a] = [await start('h:1'), await start('h:2'), await start('h:3')];
    const good = release(dir, '0.2.0');
    await releases.add(good, sha(good));
    const leader = rolls(a as NodeRegistry);
    await expect(leader.activate('9.9.9')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(rolls(a as NodeRegistry, {}).activate('0.2.0')).rejects.toMatchObject({ code: 'CONFLICT' });
    const dry = await leader.activate('0.2.0', { dryRun: true });
    expect(dry.id).toBeNull();
    expect(await leader.latest()).toBeNull();
    const { leader: lead } = await (a as NodeRegistry).list();
    const plan = await leader.activate('0.2.0', { drainSeconds: 1 });
    expect(plan.steps.map((s) => s.node).at(-1)).toBe(lead);
    await expect(leader.activate('0.2.0')).rejects.toMatchObject({ code: 'CONFLICT' });
    const first = plan.steps[0]?.node as string;

    await leader.drive();
    expect((await (a as NodeRegistry).get(first)).state).toBe('draining');
    await leader.drive();
    expect((await leader.latest())?.steps[0]?.state).toBe('draining');
    clock.advance(1000);
    // Another node leads now: it carries on from the rows.
    const next = rolls(a as NodeRegistry);
    await next.drive();
    expect((await next.latest())?.steps[0]?.state).toBe('install');
    expect(await next.claimInstall(first)).toBeDefined();
    expect(await next.claimInstall(first)).toBeUndefined();
    await start(first, '0.2.0');
    await next.drive();
    expect((await next.latest())?.steps.map((s) => s.state)).toEqual(['done', 'pending', 'pending']);

    await next.drive();
    clock.advance(1000);
    await next.drive();
    const second = plan.steps[1]?.node as string;
    await next.claimInstall(second);
    await next.failed({ plan_id: plan.id as number, seq: 1 }, 'restarting', 'exited with code 3');
    await next.drive();
    const failed = await next.latest();
    expect([failed?.state, failed?.error]).toEqual(['failed', `${second}: exited with code 3`]);
    expect(failed?.steps.map((s) => s.state)).toEqual(['done', 'failed', 'pending']);
  });
});

/**
 * Releases signed by their publisher, on a real `ingot serve`: publisher keys made with
 * openssl as `--help` shows, trusted through the CLI; a release signed as `--help` shows is
 * kept with its signer, from a file and from vsftpd with its signature beside it; unsigned,
 * wrongly signed and tampered releases are refused with BAD_SIGNATURE and the list is as it
 * was. With no key trusted a release is kept on its SHA-256 and says it is not signed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGN_RELEASE } from '../../src/cli/commands/update.command.js';
import { MAKE_PUBLISHER_KEY } from '../../src/cli/commands/update-keys.command.js';
import { keyId } from '../../src/core/signatures.js';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { packRelease, type ReleaseTarball } from '../support/releases.js';
import { type Daemon, startVsftpd } from '../support/url-servers.js';

interface ReleaseView {
  version: string;
  signer: { keyId: string; name: string } | null;
}
interface KeyView {
  keyId: string;
  name: string;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A publisher's directory: its key pair made by openssl, and `sign(release)` as the docs say. */
function publisher() {
  const dir = tempDir('ingot-publisher-');
  execFileSync('sh', ['-c', MAKE_PUBLISHER_KEY], { cwd: dir, stdio: 'pipe' });
  return {
    pub: join(dir, 'publisher.pub'),
    /** Signs `file` as `--help` shows (that example names ingot-0.2.0.tgz); the .sig path. */
    sign(file: string): string {
      cpSync(file, join(dir, 'ingot-0.2.0.tgz'));
      execFileSync('sh', ['-c', SIGN_RELEASE], { cwd: dir, stdio: 'pipe' });
      const sig = join(tempDir('ingot-sig-'), 'release.sig');
      cpSync(join(dir, 'ingot-0.2.0.tgz.sig'), sig);
      return sig;
    },
  };
}

let server: IngotServer;
let ftp: Daemon & { url: string };
let www: string;
let unsigned: ReleaseTarball;
let good: ReleaseTarball;
let viaUrl: ReleaseTarball;
let acme: ReturnType<typeof publisher>;
let stranger: ReturnType<typeof publisher>;

beforeAll(async () => {
  [unsigned, good, viaUrl] = await Promise.all([
    packRelease('0.2.0'),
    packRelease('0.3.0'),
    packRelease('0.4.0'),
  ]);
  [acme, stranger] = [publisher(), publisher()];
  www = tempDir('ingot-release-www-');
  mkdirSync(join(www, 'pub'));
  cpSync(viaUrl.file, join(www, 'pub', 'ingot-0.4.0.tgz'));
  cpSync(acme.sign(viaUrl.file), join(www, 'pub', 'ingot-0.4.0.tgz.sig'));
  cpSync(stranger.sign(viaUrl.file), join(www, 'pub', 'stranger.sig'));
  [server, ftp] = await Promise.all([startIngot({ name: 'FPPS_1' }), startVsftpd(www)]);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await ftp?.stop();
});

const versions = async () => (await server.json<ReleaseView[]>(['update', 'list'])).map((r) => r.version);
/** `update add` of 0.4.0 as the server reads it from vsftpd, with the signature file `sig` beside it. */
const fromFtp = (sig: string) => [
  'update',
  'add',
  '--url',
  `${ftp.url}/pub/ingot-0.4.0.tgz`,
  '--sha256',
  viaUrl.sha256,
  '--signature-url',
  `${ftp.url}/pub/${sig}`,
];
const add = (r: ReleaseTarball, ...more: string[]) =>
  server.cli(['update', 'add', '--file', r.file, '--sha256', r.sha256, ...more]);

describe('releases signed by their publisher', () => {
  it('keeps a release on its SHA-256 alone while no key is trusted, and says it is not signed', async () => {
    expect(await server.json(['update', 'keys', 'list'])).toEqual([]);
    const signedButNoKey = await add(unsigned, '--signature', acme.sign(unsigned.file));
    expect([signedButNoKey.code, signedButNoKey.stderr]).toEqual([
      65,
      expect.stringMatching(/BAD_SIGNATURE.*trusts no publisher key/),
    ]);
    const kept = await add(unsigned);
    expect([kept.code, kept.stdout]).toEqual([0, expect.stringMatching(/signed by: +not signed/)]);
    expect(await server.json<ReleaseView>(['update', 'show', '0.2.0'])).toMatchObject({ signer: null });
  });

  it('trusts, lists and refuses publisher keys through the CLI', async () => {
    const pem = readFileSync(acme.pub, 'utf8');
    const added = await server.json<KeyView>(['update', 'keys', 'add', '--file', acme.pub, '--name', 'acme']);
    expect(added).toMatchObject({ name: 'acme', keyId: keyId(pem) });
    const listed = await server.cli(['update', 'keys', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`acme +${keyId(pem)}`));
    const again = await server.cli(['update', 'keys', 'add', '--file', acme.pub]);
    expect([again.code, again.stderr]).toEqual([4, expect.stringMatching(/ALREADY_EXISTS.*trusted as acme/)]);
    const privateKey = join(acme.pub, '..', 'publisher.key');
    const notPublic = await server.cli(['update', 'keys', 'add', '--file', privateKey]);
    expect([notPublic.code, notPublic.stderr]).toEqual([
      2,
      expect.stringMatching(/INVALID_ARGUMENT.*BEGIN PUBLIC KEY/),
    ]);
    const missing = await server.cli(['update', 'keys', 'add', '--file', join(www, 'none.pub')]);
    expect([missing.code, missing.stderr]).toEqual([66, expect.stringMatching(/PATH_NOT_FOUND/)]);
    const reader = (await server.cli(['token', 'create', 'viewer', '--role', 'reader'])).stdout.trim();
    const denied = await server.cli(['update', 'keys', 'add', '--file', stranger.pub], {
      env: { INGOT_TOKEN: reader },
    });
    expect([denied.code, denied.stderr]).toEqual([77, expect.stringMatching(/FORBIDDEN/)]);
    expect((await server.json<KeyView[]>(['update', 'keys', 'list'])).map((k) => k.name)).toEqual(['acme']);
  });

  it('refuses an unsigned, a wrongly signed and a tampered release with BAD_SIGNATURE, keeping nothing', async () => {
    const tampered = join(tempDir('ingot-tampered-'), 'ingot-0.3.0.tgz');
    const bytes = readFileSync(good.file);
    writeFileSync(tampered, Buffer.concat([bytes, Buffer.alloc(512)]));
    const sig = acme.sign(good.file);
    const garbage = join(tempDir('ingot-garbage-'), 'x.sig');
    writeFileSync(garbage, 'not a signature\n');
    const refusals = [
      await add(good),
      await add(good, '--signature', stranger.sign(good.file)),
      await add(good, '--signature', acme.sign(unsigned.file)),
      await server.cli([
        'update',
        'add',
        '--file',
        tampered,
        '--sha256',
        sha(readFileSync(tampered)),
        '--signature',
        sig,
      ]),
      await server.cli(fromFtp('stranger.sig')),
    ];
    for (const r of refusals)
      expect([r.code, r.stderr]).toEqual([65, expect.stringMatching(/BAD_SIGNATURE/)]);
    expect(refusals[0]?.stderr).toMatch(/carries no signature/);
    const malformed = await add(good, '--signature', garbage);
    expect([malformed.code, malformed.stderr]).toEqual([
      2,
      expect.stringMatching(/INVALID_ARGUMENT.*not an Ed25519/),
    ]);
    const res = await fetch(`${server.url}/api/v1/releases?sha256=${good.sha256}&signature=abc`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/gzip' },
      body: bytes,
    });
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([400, 'INVALID_ARGUMENT']);
    expect(await versions()).toEqual(['0.2.0']);
  });

  it('keeps a release signed by a trusted key, from a file or a URL, and shows its signer', async () => {
    const { keyId: acmeId } = (await server.json<KeyView[]>(['update', 'keys', 'list']))[0] as KeyView;
    const shown = await add(good, '--signature', acme.sign(good.file));
    expect([shown.code, shown.stdout]).toEqual([
      0,
      expect.stringMatching(new RegExp(`signed by: +acme \\(${acmeId}\\)`)),
    ]);
    const fromUrl = await server.json<ReleaseView>(fromFtp('ingot-0.4.0.tgz.sig'));
    expect(fromUrl).toMatchObject({ version: '0.4.0', signer: { keyId: acmeId, name: 'acme' } });
    expect(await server.json<ReleaseView>(['update', 'show', '0.3.0'])).toMatchObject({
      signer: { keyId: acmeId, name: 'acme' },
    });
    // No longer trusted: the releases it signed stay, and new ones are kept on their SHA-256.
    const removed = await server.cli(['update', 'keys', 'remove', acmeId]);
    expect([removed.code, removed.stdout]).toEqual([
      0,
      expect.stringMatching(/no longer trusted: publisher key acme/),
    ]);
    const unknown = await server.cli(['update', 'keys', 'remove', 'acme']);
    expect([unknown.code, unknown.stderr]).toEqual([3, expect.stringMatching(/NOT_FOUND/)]);
    expect(await server.json(['update', 'keys', 'list'])).toEqual([]);
    const list = await server.json<ReleaseView[]>(['update', 'list']);
    expect(list.map((r) => [r.version, r.signer?.name ?? null])).toEqual([
      ['0.2.0', null],
      ['0.3.0', 'acme'],
      ['0.4.0', 'acme'],
    ]);
  });
});

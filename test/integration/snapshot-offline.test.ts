/**
 * A snapshot that carries Ingot itself (seed 004's stick with its rpms): `import.mjs`
 * checks the manifest, installs the bundled tarball with npm --offline under a prefix and
 * restores the snapshot with the Ingot it installed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type IngotServer, outcome, startIngot, tempDir } from '../support/ingot.js';
import { pseudoRandom } from '../support/trees.js';

const work = tempDir('ingot-stick-');
let server: IngotServer | undefined;
let restored: IngotServer | undefined;

afterAll(async () => {
  await Promise.all([server?.stop(), restored?.stop()]);
});

it('installs the Ingot it carries, offline, and restores the server with it', async () => {
  server = await startIngot({ name: 'STICK_1' });
  writeFileSync(join(work, 'disk.img'), pseudoRandom('stick', 200_000));
  expect(
    (await server.cli(['image', 'add', 'DISK_1', '--file', join(work, 'disk.img'), '--type', 'DISKIMAGE']))
      .code,
  ).toBe(0);
  const pass = join(work, 'pass.txt');
  writeFileSync(pass, 'a passphrase for the stick\n');
  const stick = join(work, 'stick');
  const made = await server.cli([
    'export',
    'snapshot',
    '--to',
    stick,
    '--with-ingot',
    '--with-images',
    '--passphrase-file',
    pass,
  ]);
  expect(made.code, made.stderr).toBe(0);
  const tarballs = JSON.parse(
    JSON.parse(readFileSync(join(stick, 'snapshot.json'), 'utf8')).body,
  ).files.filter((f: { path: string }) => f.path.startsWith('ingot/'));
  expect(tarballs).toHaveLength(1);
  await server.stop();

  const prefix = join(work, 'prefix');
  const home = join(work, 'home');
  const r = await outcome(
    spawn(process.execPath, [join(stick, 'import.mjs'), '--prefix', prefix, '--passphrase-file', pass], {
      env: { ...process.env, INGOT_HOME: home, npm_config_cache: join(work, 'empty-npm-cache') },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toMatch(/restored STICK_1/);
  expect(existsSync(join(prefix, 'bin', 'ingot'))).toBe(true);
  restored = await startIngot({ home, peerPort: server.peerPort });
  const images = await restored.json<{ name: string }[]>(['image', 'list']);
  expect(images.map((i) => i.name)).toEqual(['DISK_1']);
}, 600_000);

/**
 * A full disk, for real: INGOT_HOME on a 64 MiB tmpfs (root only, as mounting needs it).
 * Every refusal is DISK_FULL naming the path and the numbers, nothing half-made is listed,
 * and the server serves throughout.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { pair, type TransferJson } from '../support/peers.js';
import { IS_ROOT } from '../support/trees.js';

const MiB = 1024 * 1024;

describe.runIf(IS_ROOT)('a full disk', () => {
  const mount = tempDir('ingot-tmpfs-');
  const work = tempDir('ingot-full-src-');
  let server: IngotServer;
  let peer: IngotServer;

  beforeAll(async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mount]);
    mkdirSync(join(mount, 'home'));
    [server, peer] = await Promise.all([
      startIngot({ name: 'FULL', home: join(mount, 'home') }),
      startIngot({ name: 'FULL_PEER' }),
    ]);
    await pair({ server, name: 'FULL' }, { server: peer, name: 'FULL_PEER' });
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), peer?.stop()]);
    execFileSync('umount', [mount]);
    rmSync(work, { recursive: true, force: true });
  });

  const free = () => {
    const s = statfsSync(mount);
    return s.bavail * s.bsize;
  };
  const healthy = async () => (await fetch(`${server.url}/healthz`)).status;

  it('refuses each group of an ingest that does not fit before writing it, and lists nothing', async () => {
    const file = join(work, 'big.img');
    writeFileSync(file, randomBytes(96 * MiB));
    const r = await server.cli(['image', 'add', 'BIG', '--file', file]);
    expect(r.stderr).toMatch(
      /\[DISK_FULL\]: .*storing \d+ chunks needs \d+ bytes at .*packs-v1; \d+ bytes are free/,
    );
    expect(r.code).toBe(73);
    expect((await server.cli(['image', 'show', 'BIG'])).code).toBe(3);
    expect(await healthy()).toBe(200);
    // What fits still goes in.
    const small = join(work, 'small.img');
    writeFileSync(small, randomBytes(4 * MiB));
    const ok = await server.cli(['image', 'add', 'SMALL', '--file', small]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('refuses a pull whose missing chunks do not fit before any of them moves', async () => {
    const file = join(work, 'peer.img');
    writeFileSync(file, randomBytes(Math.ceil(free() / MiB + 8) * MiB));
    const added = await peer.cli(['image', 'add', 'WIDE', '--file', file]);
    expect(added.code, added.stderr).toBe(0);
    const pull = await server.cli(['image', 'pull', 'WIDE', '--server', 'FULL_PEER']);
    expect(pull.stderr).toMatch(
      /\[DISK_FULL\]: .*this transfer needs \d+ bytes at .*packs-v1; \d+ bytes are free/,
    );
    expect(pull.code).toBe(73);
    const [t] = (await server.json<TransferJson[]>(['transfers'])).filter((x) => x.image === 'WIDE');
    expect(t).toMatchObject({ state: 'failed', attempts: 1, chunksSent: 0 });
    expect((await server.cli(['image', 'show', 'WIDE'])).code).toBe(3);
  });

  it('refuses a bundle import group by group when its chunks do not fit, listing nothing', async () => {
    const usb = join(work, 'usb');
    mkdirSync(usb);
    const made = await peer.cli(['bundle', 'create', '--image', 'WIDE', '--out', usb]);
    expect(made.code, made.stderr).toBe(0);
    const imported = await server.cli(['bundle', 'import', join(usb, 'WIDE.ingot')]);
    expect(imported.stderr).toMatch(/\[DISK_FULL\]: .*storing \d+ chunks needs \d+ bytes at .*packs-v1/);
    expect(imported.code).toBe(73);
    expect((await server.cli(['image', 'show', 'WIDE'])).code).toBe(3);
  });

  it('says DISK_FULL for a write the file system refuses: chunk uploads and catalog writes', async () => {
    // Leave a few KiB: less than a chunk group, so the store refuses up front, while the
    // catalog's write finds the file system full.
    const filler = join(mount, 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 16 * 1024)));
    try {
      const file = join(work, 'upload.img');
      writeFileSync(file, randomBytes(2 * MiB));
      const up = await server.cli(['image', 'add', 'UP', '--file', file, '--upload']);
      expect(up.stderr).toContain('[DISK_FULL]');
      expect(up.code).toBe(73);
      let made = 0;
      // Fill the last pages: series rows until SQLite finds no room (or the file system does).
      for (; made < 2000; made++) {
        const r = await server.cli(['series', 'add', `S${made}`, '--description', 'x'.repeat(4000)]);
        if (r.code === 0) continue;
        expect(r.stderr).toMatch(/\[DISK_FULL\]: no space left/);
        expect(r.code).toBe(73);
        break;
      }
      expect(made).toBeLessThan(2000);
      expect(await healthy()).toBe(200);
    } finally {
      rmSync(filler, { force: true });
    }
    const again = await server.cli(['series', 'add', 'AFTER']);
    expect(again.code, again.stderr).toBe(0);
  });
});

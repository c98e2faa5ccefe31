/**
 * A home written by the previous release (test/fixtures/home-0.1.0) opens unchanged with
 * this one: catalog, pack index, packs, manifests and keys, every byte checked on deploy.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyId } from '../../src/core/signatures.js';
import { REPO, startIngot, tempDir } from '../support/ingot.js';
import { pair } from '../support/peers.js';

const FIXTURE = join(REPO, 'test', 'fixtures', 'home-0.1.0');

/** sha256 of each file of HOME_1's source tree, and of DISK_1, taken when 0.1.0 added them. */
const HOME_1_FILES: Record<string, string> = {
  'bin/tool': 'e5f2104a38e21979ca243d8ed97f2044167d0198aa423bf7e6c665d499e4636b',
  'etc/conf00.txt': '4bb940d53cfdbb86932d9258ac4bac6646d2196ea06cb54f0673ec5b5240ce7c',
  'etc/conf01.txt': '530cd6e70b78917b7a57b3c0755dd7b8f0062e78b2b4c287cc17c82c469db768',
};
const DISK_1_SHA256 = 'fe2b22884e024128fd1dc199a85c3ef8a35b66c5798fb0366c69f7ad2876ffad';
const DIGESTS = {
  HOME_1: '0bd72efcb182be111836bc067f04606f0c3278521eaf7ce6b722b2263dcf8da8',
  DISK_1: 'f6f1fb90773991f225471a24c0cb0675b8325ca46dec6cde84b0f0b66cb4d4e1',
};

function sha256File(path: string): string {
  return execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0] as string;
}

function copyFixture(): string {
  const home = tempDir('ingot-prev-');
  cpSync(FIXTURE, home, { recursive: true });
  // git keeps no permission bits but the executable one; the server wrote these 0600.
  for (const f of ['token', 'config.json', 'keys/signing.key', 'keys/peer.key'])
    chmodSync(join(home, f), 0o600);
  return home;
}

describe('a home written by release 0.1.0', () => {
  it('opens unchanged: lists, verifies and deploys every image byte for byte, and takes new ones', async () => {
    const home = copyFixture();
    const server = await startIngot({ home });
    try {
      const images = await server.json<
        { name: string; digest: string; origin: string; originKeyId: string }[]
      >(['image', 'list']);
      expect(Object.fromEntries(images.map((i) => [i.name, i.digest]))).toEqual(DIGESTS);
      expect(new Set(images.map((i) => i.origin))).toEqual(new Set(['OLDREL']));
      // Its own images learn their origin's key id at start: this server's.
      const ownKey = keyId(readFileSync(join(home, 'keys', 'signing.pub'), 'utf8'));
      expect(new Set(images.map((i) => i.originKeyId))).toEqual(new Set([ownKey]));
      for (const name of Object.keys(DIGESTS)) {
        const v = await server.cli(['image', 'verify', name]);
        expect(v.code, v.stderr).toBe(0);
      }
      const out = tempDir('ingot-prev-out-');
      const tree = join(out, 'home');
      const d1 = await server.cli(['image', 'deploy', 'HOME_1', '--path', tree]);
      expect(d1.code, d1.stderr).toBe(0);
      for (const [path, sha] of Object.entries(HOME_1_FILES)) expect(sha256File(join(tree, path))).toBe(sha);
      expect(readFileSync(join(tree, 'etc/hard01.txt'))).toEqual(readFileSync(join(tree, 'etc/conf01.txt')));
      const disk = join(out, 'disk.img');
      const d2 = await server.cli(['image', 'deploy', 'DISK_1', '--path', disk]);
      expect(d2.code, d2.stderr).toBe(0);
      expect(sha256File(disk)).toBe(DISK_1_SHA256);
      // The old store takes new images next to the old ones: the known chunks cost nothing.
      const disk2 = await server.cli(['image', 'add', 'DISK_2', '--file', disk, '--from', 'DISK_1']);
      expect(disk2.code, disk2.stderr).toBe(0);
      expect(disk2.stdout).toMatch(/sent 0 B/);
      // A tree is cut at file boundaries since 0.2: its first add under that rule stores new
      // chunks once, and the next one none.
      for (const name of ['HOME_2', 'HOME_3']) {
        const again = await server.cli(['image', 'add', name, '--path', tree, '--from', 'HOME_1']);
        expect(again.code, again.stderr).toBe(0);
        if (name === 'HOME_3') expect(again.stdout).toMatch(/sent 0 B/);
      }
      const series = await server.json<{ name: string }[]>(['series', 'list']);
      expect(series.map((s) => s.name)).toContain('DB19');
    } finally {
      await server.stop();
    }
  });

  it("keeps its 0.1 TLS certificate, which a new server's peer API takes, and takes the new one", async () => {
    const home = copyFixture();
    const certBefore = readFileSync(join(home, 'keys', 'peer.crt'), 'utf8');
    const [old, fresh] = await Promise.all([startIngot({ home }), startIngot({ name: 'NEWREL' })]);
    try {
      expect(readFileSync(join(home, 'keys', 'peer.crt'), 'utf8')).toBe(certBefore);
      await pair({ server: old, name: 'OLDREL' }, { server: fresh, name: 'NEWREL' });
      // Each side dials the other over mutual TLS, each pinning the other's certificate.
      for (const [server, peer] of [
        [old, 'NEWREL'],
        [fresh, 'OLDREL'],
      ] as const) {
        const peers = await server.json<{ name: string; reachable: boolean; error?: string }[]>([
          'query',
          'peerserver',
        ]);
        expect(peers.map((p) => [p.name, p.reachable, p.error])).toEqual([[peer, true, undefined]]);
      }
    } finally {
      await Promise.all([old.stop(), fresh.stop()]);
    }
  });
});

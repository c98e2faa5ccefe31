/**
 * Failures between peers that must each say what they are: a certificate that is not the
 * pinned one, a peer that does not trust ours, a certificate outside its dates, a damaged
 * chunk in the sender's store, an upload that is not a chunk stream.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../src/federation/certificate.js';
import { type FakePeer, fakePeer } from '../support/fake-peer.js';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { exportServer, pair, type TransferJson, workDir, writeJson } from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

let s1: IngotServer;
let s2: IngotServer;

beforeAll(async () => {
  [s1, s2] = await Promise.all([startIngot({ name: 'FPPS_1' }), startIngot({ name: 'FPPS_2' })]);
  await pair({ server: s1, name: 'FPPS_1' }, { server: s2, name: 'FPPS_2' });
});
afterAll(async () => {
  await Promise.all([s1?.stop(), s2?.stop()]);
});

interface PeerView {
  reachable: boolean;
  error?: string;
  errorCode?: string;
}
/** A peer under the test's control, registered on `on` (its endpoint answers nothing). */
async function registerFake(on: IngotServer, name: string) {
  const fake = fakePeer(name);
  const r = await on.cli([
    'register',
    'server',
    '--server',
    name,
    '--serverdata',
    writeJson(fake.serverData),
  ]);
  expect(r.code, r.stderr).toBe(0);
  return fake;
}
const probe = (from: IngotServer, name: string) =>
  from.json<PeerView>(['query', 'peerserver', '--server', name]);

describe('a peer whose certificate is not trusted', () => {
  it('is PEER_UNTRUSTED when it shows another certificate than the one registered', async () => {
    const other = fakePeer('FPPS_2');
    expect((await s1.cli(['unregister', 'server', '--server', 'FPPS_2'])).code).toBe(0);
    const forged = writeJson({ ...other.serverData, endpoint: s2.peerUrl });
    expect((await s1.cli(['register', 'server', '--server', 'FPPS_2', '--serverdata', forged])).code).toBe(0);
    expect(await probe(s1, 'FPPS_2')).toMatchObject({
      reachable: false,
      errorCode: 'PEER_UNTRUSTED',
      error: "the peer's certificate is not the one registered for FPPS_2",
    });
    const pull = await s1.cli(['image', 'pull', 'ANY', '--server', 'FPPS_2']);
    expect(pull.stderr).toContain('[PEER_UNTRUSTED]');
    expect(pull.code).toBe(77);
    // The real one again, for the tests below.
    expect((await s1.cli(['unregister', 'server', '--server', 'FPPS_2'])).code).toBe(0);
    const real = await exportServer(s2, 'FPPS_2');
    expect((await s1.cli(['register', 'server', '--server', 'FPPS_2', '--serverdata', real])).code).toBe(0);
    expect(await probe(s1, 'FPPS_2')).toMatchObject({ reachable: true });
  });

  it('is PEER_UNTRUSTED when the peer does not trust this server, and UNAVAILABLE when it is down', async () => {
    expect((await s2.cli(['unregister', 'server', '--server', 'FPPS_1'])).code).toBe(0);
    expect(await probe(s1, 'FPPS_2')).toMatchObject({
      reachable: false,
      errorCode: 'PEER_UNTRUSTED',
      error: "FPPS_2 does not trust this server's certificate",
    });
    const again = await exportServer(s1, 'FPPS_1');
    const r = await s2.cli(['register', 'server', '--server', 'FPPS_1', '--serverdata', again]);
    expect(r.code, r.stderr).toBe(0);
    expect(await probe(s1, 'FPPS_2')).toMatchObject({ reachable: true });
    // Nothing listening: still UNAVAILABLE, not a question of trust.
    await registerFake(s1, 'FPPS_GONE');
    expect(await probe(s1, 'FPPS_GONE')).toMatchObject({ reachable: false, errorCode: 'UNAVAILABLE' });
  });
});

/** A server whose peer certificate, made before its first start, has the given dates. */
async function serverWithCertificate(name: string, notBefore: Date, notAfter: Date): Promise<IngotServer> {
  const home = tempDir('ingot-skewed-');
  const pairPem = createSelfSignedCertificate({ commonName: name, notBefore, notAfter });
  mkdirSync(join(home, 'keys'), { recursive: true });
  writeFileSync(join(home, 'keys', 'peer.key'), pairPem.keyPem, { mode: 0o600 });
  writeFileSync(join(home, 'keys', 'peer.crt'), pairPem.certPem);
  return startIngot({ home, name });
}

describe('a certificate outside its dates (a clock set wrong)', () => {
  const DAY = 86_400_000;
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);

  it('is CERTIFICATE_NOT_VALID on both sides when a certificate is not valid yet, naming the date', async () => {
    const from = Date.now() + 30 * DAY;
    const skewed = await serverWithCertificate('EARLY_1', new Date(from), new Date(from + 3650 * DAY));
    try {
      await pair({ server: s1, name: 'FPPS_1' }, { server: skewed, name: 'EARLY_1' });
      // This server dials the skewed one: its certificate fails our check.
      const seen = await probe(s1, 'EARLY_1');
      expect(seen).toMatchObject({ reachable: false, errorCode: 'CERTIFICATE_NOT_VALID' });
      expect(seen.error).toContain(`the certificate of EARLY_1 is not valid until ${day(from)}`);
      const pull = await s1.cli(['image', 'pull', 'ANY', '--server', 'EARLY_1']);
      expect(pull.stderr).toContain('[CERTIFICATE_NOT_VALID]');
      expect(pull.stderr).toContain('check the clocks of both hosts');
      expect(pull.code).toBe(77);
      // The skewed one dials us: we refuse its certificate and log why; it says why too.
      const back = await probe(skewed, 'FPPS_1');
      expect(back).toMatchObject({ reachable: false, errorCode: 'CERTIFICATE_NOT_VALID' });
      expect(back.error).toContain(
        `FPPS_1 refuses this server's certificate, which is not valid until ${day(from)}`,
      );
      expect(s1.logs()).toMatch(/refused a peer's TLS handshake from \S+: CERT_NOT_YET_VALID/);
    } finally {
      await s1.cli(['unregister', 'server', '--server', 'EARLY_1']);
      await skewed.stop();
    }
  });

  it('is refused at registration when expired, and the expired server says why peers refuse it', async () => {
    const to = Date.now() - DAY;
    const skewed = await serverWithCertificate('LATE_1', new Date(to - 3650 * DAY), new Date(to));
    try {
      const refused = await s1.cli([
        'register',
        'server',
        '--server',
        'LATE_1',
        '--serverdata',
        await exportServer(skewed, 'LATE_1'),
      ]);
      expect(refused.stderr).toContain('its certificate expired on');
      expect(refused.code).toBe(2);
      const fa = await exportServer(s1, 'FPPS_1');
      expect((await skewed.cli(['register', 'server', '--server', 'FPPS_1', '--serverdata', fa])).code).toBe(
        0,
      );
      const back = await probe(skewed, 'FPPS_1');
      expect(back).toMatchObject({ reachable: false, errorCode: 'CERTIFICATE_NOT_VALID' });
      expect(back.error).toContain(`FPPS_1 refuses this server's certificate, which expired at ${day(to)}`);
    } finally {
      await skewed.stop();
    }
  });
});

describe('a damaged chunk in the sender’s store', () => {
  it('fails the pull with a code that names the chunk, and the transfer record counts what was stored', async () => {
    const data = pseudoRandom('damaged', 3 * 1024 * 1024);
    const file = join(workDir(), 'damaged.img');
    writeFileSync(file, data);
    expect((await s1.cli(['image', 'add', 'DMG', '--file', file])).code).toBe(0);
    // Flip bytes in the middle of the file's copy in FPPS_1's packs (stored raw: random).
    const needle = data.subarray(2 * 1024 * 1024, 2 * 1024 * 1024 + 64);
    const packs = join(s1.home, 'store', 'packs-v1');
    let damaged = 0;
    for (const f of readdirSync(packs).filter((n) => n.endsWith('.pack'))) {
      const at = readFileSync(join(packs, f)).indexOf(needle);
      if (at < 0) continue;
      const fd = openSync(join(packs, f), 'r+');
      writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, at);
      closeSync(fd);
      damaged++;
    }
    expect(damaged).toBe(1);
    const pull = await s2.cli(['image', 'pull', 'DMG', '--server', 'FPPS_1']);
    expect(pull.stderr).toMatch(
      /\[CORRUPT\].*FPPS_2 refused chunk [0-9a-f]{64} from FPPS_1: FPPS_1's stored copy is damaged/,
    );
    expect(pull.code).toBe(74);
    const [t] = (await s2.json<(TransferJson & { bytesDone: number })[]>(['transfers'])).filter(
      (x) => x.image === 'DMG',
    );
    // Not retried (the same bytes would come again), and the record says what moved.
    expect(t).toMatchObject({ state: 'failed', attempts: 1, chunksSent: t?.chunksTotal });
    expect(t?.wireBytes).toBeGreaterThan(3 * 1024 * 1024 - 256 * 1024);
    expect(t?.bytesDone).toBeGreaterThan(0);
    expect(t?.bytesDone).toBeLessThan(t?.bytesTotal ?? 0);
    expect((await s2.cli(['image', 'show', 'DMG'])).code).toBe(3);

    // Deploy verifies too, and says so (it ended with code 0 and no word, nothing written).
    const dest = join(workDir(), 'dmg-out.img');
    const deploy = await s1.cli(['image', 'deploy', 'DMG', '--path', dest]);
    expect(deploy.stderr).toMatch(/\[DIGEST_MISMATCH\]: chunk [0-9a-f]{64} arrived damaged/);
    expect(deploy.code).toBe(65);
  });
});

/**
 * Adds `name` (`mib` MiB of random bytes) on FPPS_1, then flips a byte of the digest in the
 * header of the first record it wrote past `skip` bytes, so that header's CRC fails.
 */
async function addWithDamagedHeader(name: string, mib: number, skip = 0): Promise<void> {
  const file = join(workDir(), `${name}.img`);
  writeFileSync(file, pseudoRandom(name, mib * 1024 * 1024));
  const packs = join(s1.home, 'store', 'packs-v1');
  const before = new Map(readdirSync(packs).map((f) => [f, readFileSync(join(packs, f)).length]));
  expect((await s1.cli(['image', 'add', name, '--file', file])).code).toBe(0);
  const pack = readdirSync(packs)
    .filter((n) => n.endsWith('.pack'))
    .sort()
    .at(-1) as string;
  const at = readFileSync(join(packs, pack)).indexOf('IGCR', (before.get(pack) ?? 16) + skip);
  expect(at).toBeGreaterThan(0);
  const fd = openSync(join(packs, pack), 'r+');
  writeSync(fd, Buffer.from([0x5a]), 0, 1, at + 10);
  closeSync(fd);
}

describe('a damaged record header in the sender’s store', () => {
  it('is found by the sender, which answers CORRUPT naming the chunk and the pack', async () => {
    await addWithDamagedHeader('HDR', 1);
    const pull = await s2.cli(['image', 'pull', 'HDR', '--server', 'FPPS_1']);
    expect(pull.stderr).toMatch(
      /\[CORRUPT\]: .*chunk [0-9a-f]{64} in pack \d+ at offset \d+ failed verification: bad record header CRC/,
    );
    expect(pull.code).toBe(74);
    const [t] = (await s2.json<TransferJson[]>(['transfers'])).filter((x) => x.image === 'HDR');
    expect(t).toMatchObject({ state: 'failed', attempts: 1 });
    expect((await s2.cli(['image', 'show', 'HDR'])).code).toBe(3);
  });
});

describe('a damaged record header the sender meets mid-stream', () => {
  it('cuts the stream, and the receiver says so with a code instead of "other side closed"', async () => {
    // Past the first 4 MiB run a deploy's request reads before its answer starts.
    await addWithDamagedHeader('LATE', 12, 9 * 1024 * 1024);
    const dest = join(workDir(), 'late-out.img');
    const deploy = await s1.cli(['image', 'deploy', 'LATE', '--path', dest]);
    expect(deploy.stderr).toMatch(/\[TRUNCATED\]: chunk stream cut after \d+ chunks/);
    expect(deploy.stderr).toContain('ingot image verify');
    expect(deploy.code).toBe(65);
    expect(existsSync(dest)).toBe(false);
    // A peer asks in smaller requests: the damaged record heads one, found before it starts.
    const pull = await s2.cli(['image', 'pull', 'LATE', '--server', 'FPPS_1']);
    expect(pull.stderr).toMatch(/\[CORRUPT\]: .*in pack \d+ at offset \d+ failed verification/);
    expect(pull.code).toBe(74);
  });
});

describe('what a peer sends past the rules of the peer API', () => {
  let fake: FakePeer;
  let cert2: string;
  beforeAll(async () => {
    fake = await registerFake(s2, 'FPPS_J');
    cert2 = readFileSync(join(s2.home, 'keys', 'peer.crt'), 'utf8');
  });

  it('is LIMIT_EXCEEDED for a field or a list over its bound', async () => {
    const bases = Array.from({ length: 9 }, (_, i) => ({ name: `B${i}`, digest: '0'.repeat(64) }));
    const res = await fake.call(s2.peerUrl, cert2, 'POST', '/peer/v1/bases', {
      image: '0'.repeat(64),
      bases,
    });
    expect(res).toMatchObject({
      status: 413,
      json: { code: 'LIMIT_EXCEEDED', message: 'bases is 9 items; the limit is 8' },
    });
  });

  it('is refused with 415 for an upload that is not a chunk stream, before its body is read', async () => {
    const res = await fake.call(s2.peerUrl, cert2, 'PUT', `/peer/v1/chunks?image=${'0'.repeat(64)}`, {
      digests: [],
    });
    expect(res).toMatchObject({
      status: 415,
      json: {
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'a chunk upload is application/vnd.ingot.chunks, not application/json',
      },
    });
  });
});

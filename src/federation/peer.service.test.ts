import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { fakePeer } from '../../test/support/fake-peer.js';
import { keyId } from '../core/signatures.js';
import { type Db, openDatabase } from '../db/database.js';
import { PeerService } from './peer.service.js';

const ownKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe.each(DIALECTS)('PeerService names and keys (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  let peers: PeerService;

  beforeEach(async () => {
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    peers = new PeerService(db, { name: 'FPPS', fingerprint: 'f'.repeat(64), keyId: keyId(ownKey) });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it('registers a server named like this one under a local name, known by its key', async () => {
    const twin = fakePeer('FPPS');
    await expect(peers.register('FPPS', twin.serverData)).rejects.toMatchObject({
      code: 'AMBIGUOUS_NAME',
      message: "FPPS is also this server's own cluster name",
      hint: expect.stringMatching(/--as /),
    });
    const peer = await peers.register('FPPS', twin.serverData, { as: 'FPPS_B' });
    expect(peer).toMatchObject({
      name: 'FPPS_B',
      clusterName: 'FPPS',
      signingKeyId: keyId(String(twin.serverData.signingKey)),
    });
    expect((await peers.byClusterName('FPPS')).map((p) => p.name)).toEqual(['FPPS_B']);
    expect((await peers.bySigningKey(peer.signingKeyId))?.name).toBe('FPPS_B');
  });

  it('tells a node of peers registered and unregistered through another node of its catalog', async () => {
    const node = new PeerService(db, { name: 'FPPS', fingerprint: 'f'.repeat(64), keyId: keyId(ownKey) });
    const told: string[] = [];
    node.onChange(() => {
      told.push('change');
    });
    node.onRevoke((p) => {
      told.push(`revoke ${p.name}`);
    });
    await node.reconcile();
    expect(told).toEqual([]);
    await peers.register('EDGE', fakePeer('EDGE').serverData);
    await node.reconcile();
    expect(told).toEqual(['change']);
    await node.reconcile();
    await peers.setMaxRate('EDGE', 1 << 20);
    await node.reconcile();
    expect(told).toEqual(['change']);
    await peers.unregister('EDGE');
    await node.reconcile();
    expect(told).toEqual(['change', 'change', 'revoke EDGE']);
  });

  it("reads a certificate's peer at most once a second, and at once after a write through this node", async () => {
    let now = Date.parse('2026-12-07T12:00:00Z');
    const node = new PeerService(
      db,
      { name: 'FPPS', fingerprint: 'f'.repeat(64), keyId: keyId(ownKey) },
      { now: () => new Date(now) },
    );
    const edge = await peers.register('EDGE', fakePeer('EDGE').serverData);
    expect((await node.byFingerprint(edge.certFingerprint))?.allowUploads).toBe(false);
    // Changed through another node: seen once the second is up.
    await peers.setAllowUploads('EDGE', true);
    expect((await node.byFingerprint(edge.certFingerprint))?.allowUploads).toBe(false);
    now += 1000;
    expect((await node.byFingerprint(edge.certFingerprint))?.allowUploads).toBe(true);
    // Changed through this node: seen at once.
    await node.setAllowUploads('EDGE', false);
    expect((await node.byFingerprint(edge.certFingerprint))?.allowUploads).toBe(false);
    await node.unregister('EDGE');
    expect(await node.byFingerprint(edge.certFingerprint)).toBeUndefined();
  });

  it('asks for --as when another peer holds the name, and refuses a taken --as', async () => {
    await peers.register('EDGE', fakePeer('EDGE').serverData);
    const other = fakePeer('EDGE');
    await expect(peers.register('EDGE', other.serverData)).rejects.toMatchObject({
      code: 'AMBIGUOUS_NAME',
      message: expect.stringMatching(/^EDGE is already the name of another registered peer/),
    });
    await expect(peers.register('EDGE', other.serverData, { as: 'EDGE' })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    });
    await expect(peers.register('EDGE', other.serverData, { as: 'FPPS' })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: "FPPS is this server's own cluster name",
    });
    await peers.addHost('client', 'NODE_1');
    await expect(peers.register('EDGE', other.serverData, { as: 'NODE_1' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect((await peers.register('EDGE', other.serverData, { as: 'EDGE_2' })).name).toBe('EDGE_2');
    expect((await peers.byClusterName('EDGE')).map((p) => p.name)).toEqual(['EDGE', 'EDGE_2']);
  });

  it("refuses this server's own key and a key registered already, whatever the name", async () => {
    const self = fakePeer('ELSEWHERE');
    const asSelf = { ...self.serverData, signingKey: ownKey };
    await expect(peers.register('ELSEWHERE', asSelf)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'that server-data file describes this server itself',
    });
    const hq = fakePeer('HQ');
    await peers.register('HQ', hq.serverData);
    await expect(peers.register('HQ', hq.serverData)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    // Another certificate and name, the same signing key: the same server.
    const renamed = { ...fakePeer('HQ_NEW').serverData, signingKey: hq.serverData.signingKey };
    await expect(peers.register('HQ_NEW', renamed)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'that signing key is already registered as peer HQ',
    });
    await expect(peers.register('HQ', renamed, { as: 'HQ_2' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect((await peers.list()).map((p) => p.name)).toEqual(['HQ']);
  });
});

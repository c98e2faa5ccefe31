import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { type FakePeer, fakePeer } from '../../test/support/fake-peer.js';
import type { ImageRecord } from '../catalog/types.js';
import type { Digest } from '../core/manifest.js';
import { keyId, signatureMessage } from '../core/signatures.js';
import { type Db, openDatabase } from '../db/database.js';
import type { OfferMeta } from '../transfer/image-sides.js';
import { OriginKeys } from './origin-keys.js';
import { PeerService } from './peer.service.js';

const digest = createHash('sha256').update('an image').digest('hex') as Digest;

function signer() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (d: Digest) => sign(null, signatureMessage(d), privateKey).toString('base64'),
  };
}

function offer(origin: string, signature: string): OfferMeta {
  const meta = { name: 'IMG', digest, origin, signature, state: 'PUBLISHED' as const };
  return { ...meta, imageType: 'DISKIMAGE', baseType: 'DISKIMAGE', size: 1 };
}

describe.each(DIALECTS)('OriginKeys (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  let keys: OriginKeys;
  let peer: FakePeer;
  const own = signer();
  const stranger = signer();

  beforeEach(async () => {
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    const peers = new PeerService(db, { name: 'SITE', fingerprint: 'f'.repeat(64), keyId: keyId(own.pem) });
    peer = fakePeer('HQ');
    await peers.register('HQ', peer.serverData);
    keys = new OriginKeys({ self: 'SITE', ownKeyPem: own.pem, peers });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it("takes this server's own images only with its own key, whatever a document says", async () => {
    await keys.checkOffer(offer('SITE', own.sign(digest)), undefined);
    const forged = offer('SITE', peer.sign(digest));
    await expect(keys.checkOffer(forged, undefined)).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    await expect(keys.checkOffer(forged, String(peer.serverData.signingKey))).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
      message: expect.stringMatching(/names this server \(SITE\) as its origin/),
    });
  });

  it("checks a registered peer's images with its pinned key, never a vouched one", async () => {
    await keys.checkOffer(offer('HQ', peer.sign(digest)), undefined);
    await expect(keys.checkOffer(offer('HQ', stranger.sign(digest)), stranger.pem)).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
    });
  });

  it('takes an unregistered origin only with a key a document vouches for', async () => {
    const meta = offer('EDGE_HQ', stranger.sign(digest));
    await expect(keys.checkOffer(meta, undefined)).rejects.toMatchObject({ code: 'UNKNOWN_ORIGIN' });
    await keys.checkOffer(meta, stranger.pem);
    await expect(keys.checkOffer(meta, own.pem)).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  it("checks a listed image's signature, or says it cannot", async () => {
    const image = (origin: string, signature: string | null) =>
      ({ name: 'IMG', digest, origin, signature }) as ImageRecord;
    expect(await keys.checkImage(image('SITE', own.sign(digest)))).toBe('checked');
    expect(await keys.checkImage(image('HQ', peer.sign(digest)))).toBe('checked');
    expect(await keys.checkImage(image('EDGE_HQ', stranger.sign(digest)))).toBe('unchecked');
    await expect(keys.checkImage(image('HQ', own.sign(digest)))).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
    });
    await expect(keys.checkImage(image('SITE', null))).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  it('tells two servers of one cluster name apart by key', async () => {
    const peers = new PeerService(db, { name: 'SITE', fingerprint: 'f'.repeat(64), keyId: keyId(own.pem) });
    const twin = fakePeer('SITE');
    const twinPem = String(twin.serverData.signingKey);
    await peers.register('SITE', twin.serverData, { as: 'SITE_B' });
    const theirs = offer('SITE', twin.sign(digest));
    expect(await keys.checkOffer(theirs, twinPem)).toMatchObject({ id: keyId(twinPem), source: 'peer' });
    // Known by name only: the key that checks says which of the two it is.
    expect(await keys.checkOffer(theirs, undefined)).toMatchObject({ id: keyId(twinPem) });
    expect(await keys.checkOffer(offer('SITE', own.sign(digest)), undefined)).toMatchObject({
      id: keys.ownKeyId,
      source: 'self',
    });
    // Claiming this server's key, signed by the twin: refused.
    await expect(keys.checkOffer(theirs, own.pem)).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
      message: expect.stringMatching(/names this server \(SITE\) as its origin/),
    });
    const listed = { name: 'IMG', digest, origin: 'SITE', signature: twin.sign(digest) } as ImageRecord;
    expect(await keys.checkImage({ ...listed, originKeyId: keyId(twinPem) })).toBe('checked');
    await expect(keys.checkImage({ ...listed, originKeyId: keys.ownKeyId })).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
    });
  });
});

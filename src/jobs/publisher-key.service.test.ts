import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { keyId } from '../core/signatures.js';
import { type Db, openDatabase } from '../db/database.js';
import { PUBLISHER_KEYS_MAX, PublisherKeyService } from './publisher-key.service.js';

const newKey = () =>
  generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe.each(DIALECTS)('publisher keys (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  let keys: PublisherKeyService;
  beforeEach(async () => {
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    keys = new PublisherKeyService(db);
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it('adds, lists and removes keys by name or key id', async () => {
    const [a, b] = [newKey(), newKey()];
    const acme = await keys.add(a, 'acme');
    expect(acme).toMatchObject({ name: 'acme', keyId: keyId(a), publicKeyPem: a });
    const unnamed = await keys.add(b);
    expect(unnamed.name).toBe(`key-${keyId(b).slice(0, 16)}`);
    expect((await keys.list()).map((k) => k.name)).toEqual(['acme', unnamed.name]);
    expect(await keys.remove(keyId(b))).toEqual(unnamed);
    expect(await keys.remove('acme')).toEqual(acme);
    expect(await keys.list()).toEqual([]);
    await expect(keys.remove('acme')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses the same key or name again, a bad name, a bad key and one key too many, changing nothing', async () => {
    const a = newKey();
    await keys.add(a, 'acme');
    await expect(keys.add(a, 'acme2')).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
      message: 'that key is trusted as acme',
    });
    await expect(keys.add(newKey(), 'acme')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(keys.add(newKey(), '1bad name')).rejects.toMatchObject({ code: 'INVALID_NAME' });
    await expect(
      keys.add('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await keys.list()).map((k) => k.name)).toEqual(['acme']);
    for (let i = 1; i < PUBLISHER_KEYS_MAX; i++) await keys.add(newKey());
    await expect(keys.add(newKey())).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect(await keys.list()).toHaveLength(PUBLISHER_KEYS_MAX);
  });
});

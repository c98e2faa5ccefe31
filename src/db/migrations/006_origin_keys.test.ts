import { createHash, generateKeyPairSync } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Migrator } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../../test/support/databases.js';
import { CatalogService } from '../../catalog/catalog.service.js';
import { type Db, openDatabase } from '../database.js';
import { migrationProvider } from './index.js';

function signingKey() {
  const { publicKey } = generateKeyPairSync('ed25519');
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return {
    pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    id: createHash('sha256').update(der).digest('hex'),
  };
}

function image(name: string, origin: string, receivedFrom: string | null) {
  return {
    name,
    digest: createHash('sha256').update(name).digest('hex'),
    kind: 'file',
    image_type: 'DISKIMAGE',
    state: 'PUBLISHED',
    parent_name: null,
    parent_digest: null,
    origin,
    size: 1,
    stored_bytes: 1,
    chunk_count: 1,
    file_count: 1,
    signature: null,
    created_at: '2026-01-01T00:00:00.000Z',
    received_from: receivedFrom,
  };
}

describe.each(DIALECTS)('migration 006_origin_keys (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;

  beforeEach(async () => {
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it('fills in the key ids it can from what 005 knew, and goes back down', async () => {
    const migrator = new Migrator({ db: db.kysely, provider: migrationProvider(dialect) });
    const down = await migrator.migrateTo('005_access');
    expect(down.error).toBeUndefined();
    expect(down.results?.find((r) => r.migrationName === '006_origin_keys')).toMatchObject({
      direction: 'Down',
      status: 'Success',
    });
    // biome-ignore lint/suspicious/noExplicitAny: the schema as 005 left it.
    const old = db.kysely as unknown as Kysely<any>;
    const hq = signingKey();
    await old
      .insertInto('peers')
      .values({
        name: 'HQ',
        endpoint: 'https://127.0.0.1:9',
        cert_pem: 'pem',
        cert_fingerprint: 'f'.repeat(64),
        signing_key_pem: hq.pem,
        max_rate: null,
        registered_at: '2026-01-01T00:00:00.000Z',
        last_contact_at: null,
      })
      .execute();
    await old
      .insertInto('images')
      .values([image('OWN', 'SITE', null), image('FROM_HQ', 'HQ', 'HQ'), image('VIA_HQ', 'ELSEWHERE', 'HQ')])
      .execute();

    const up = await migrator.migrateToLatest();
    expect(up.error).toBeUndefined();
    const peer = await db.kysely.selectFrom('peers').selectAll().executeTakeFirstOrThrow();
    expect(peer).toMatchObject({ name: 'HQ', cluster_name: 'HQ', signing_key_id: hq.id });
    const keyIds = Object.fromEntries(
      (await db.kysely.selectFrom('images').select(['name', 'origin_key_id']).execute()).map((r) => [
        r.name,
        r.origin_key_id,
      ]),
    );
    // This server's own images are the server's to fill in at start (it alone knows its key).
    expect(keyIds).toEqual({ OWN: null, FROM_HQ: hq.id, VIA_HQ: null });
    const site = signingKey();
    expect(await new CatalogService(db).adoptOwnImages('SITE', site.id)).toBe(1);
    expect(await new CatalogService(db).adoptOwnImages('SITE', site.id)).toBe(0);
    const own = await new CatalogService(db).getImage('OWN');
    expect(own.originKeyId).toBe(site.id);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { type Db, openDatabase } from '../db/index.js';
import { AuditLog } from './audit-log.js';
import { TokenService } from './token.service.js';

describe.each(DIALECTS)('tokens and audit (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  let now = new Date('2026-01-01T00:00:00.000Z');
  let tokens: TokenService;
  beforeEach(async () => {
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    now = new Date('2026-01-01T00:00:00.000Z');
    tokens = new TokenService({ db, fileToken: 'the-file-token', now: () => now });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it('keeps only a hash, and knows each secret by it until it expires or is revoked', async () => {
    expect(await tokens.authenticate('the-file-token')).toEqual({ name: 'admin', role: 'admin' });
    const { secret } = await tokens.create('ops', 'operator', 3600);
    const row = await db.kysely.selectFrom('api_tokens').selectAll().executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(await tokens.authenticate(secret)).toEqual({ name: 'ops', role: 'operator' });
    now = new Date(now.getTime() + 3600_000);
    await expect(tokens.authenticate(secret)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'the token ops expired at 2026-01-01T01:00:00.000Z',
    });

    const reader = await tokens.create('dash', 'reader');
    await tokens.revoke('dash');
    await expect(tokens.authenticate(reader.secret)).rejects.toMatchObject({ message: /dash was revoked/ });
    // A revoked name may be given again; the old secret then means nothing.
    const again = await tokens.create('dash', 'reader');
    expect(await tokens.authenticate(again.secret)).toMatchObject({ name: 'dash' });
    await expect(tokens.authenticate(reader.secret)).rejects.toMatchObject({ message: /not valid/ });
    await expect(tokens.create('dash', 'admin')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(tokens.create('admin', 'admin')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(tokens.revoke('admin')).rejects.toMatchObject({ code: 'READ_ONLY' });
    await expect(tokens.revoke('nobody')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await tokens.list()).map((t) => [t.name, t.status])).toEqual([
      ['admin', 'active'],
      ['dash', 'active'],
      ['ops', 'expired'],
    ]);
  });

  it('lists the audit newest first, within the limit', async () => {
    const audit = new AuditLog(db, () => now);
    for (const target of ['A', 'B', 'C']) {
      await audit.record({
        token: 'ops',
        method: 'POST',
        route: '/api/v1/images',
        target,
        remote: '127.0.0.1',
        status: 201,
        code: null,
      });
    }
    expect((await audit.list(2)).map((e) => e.target)).toEqual(['C', 'B']);
  });

  it('drops audit rows older than the cut-off and keeps the rest', async () => {
    const audit = new AuditLog(db, () => now);
    const entry = (target: string) => ({
      token: 'ops',
      method: 'DELETE',
      route: '/api/v1/images/:name',
      target,
      remote: '127.0.0.1',
      status: 204,
      code: null,
    });
    for (const [day, target] of [
      [1, 'OLD_1'],
      [2, 'OLD_2'],
      [10, 'NEW_1'],
      [11, 'NEW_2'],
    ] as const) {
      now = new Date(Date.UTC(2026, 0, day));
      await audit.record(entry(target));
    }
    expect(await audit.prune(new Date(Date.UTC(2026, 0, 5)))).toBe(2);
    expect((await audit.list(10)).map((e) => e.target)).toEqual(['NEW_2', 'NEW_1']);
    expect(await audit.prune(new Date(Date.UTC(2026, 0, 5)))).toBe(0);
    // A cut-off past every row empties it.
    expect(await audit.prune(new Date(Date.UTC(2027, 0, 1)))).toBe(2);
    expect(await audit.list(10)).toEqual([]);
  });
});

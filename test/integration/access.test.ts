/**
 * Who may do what on the REST API, on real servers through the real CLI: named tokens with
 * roles, refused with FORBIDDEN (which role is needed) or UNAUTHENTICATED (expired, revoked),
 * the INGOT_HOME token as the admin's, the audit record, and /metrics behind a setting.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/access/index.js';
import { ERROR_CODES } from '../../src/core/errors.js';
import { openDatabase } from '../../src/db/index.js';
import { type CliResult, type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { pair, workDir } from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

let a: IngotServer;
let b: IngotServer;
const bHome = tempDir('ingot-home-');
const file = join(workDir(), 'access.img');

beforeAll(async () => {
  // B keeps /metrics behind a token by its config.json.
  mkdirSync(bHome, { recursive: true });
  writeFileSync(
    join(bHome, 'config.json'),
    JSON.stringify({ clusterName: 'ACC_B', createdAt: new Date().toISOString(), metrics: 'token' }),
  );
  [a, b] = await Promise.all([startIngot({ name: 'ACC_A' }), startIngot({ home: bHome })]);
  await pair({ server: a, name: 'ACC_A' }, { server: b, name: 'ACC_B' });
  writeFileSync(file, pseudoRandom('access', 600_000));
  const r = await b.cli(['image', 'add', 'ACC_B_IMG', '--file', file]);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** Creates a token on `server` with the admin's file token; answers its secret. */
async function createToken(server: IngotServer, name: string, role: string, more: string[] = []) {
  const r = await server.cli(['token', 'create', name, '--role', role, ...more]);
  expect(r.code, r.stderr).toBe(0);
  const secret = r.stdout.trim();
  expect(secret).toMatch(/^ingot_[A-Za-z0-9_-]{43}$/);
  return secret;
}

const as = (server: IngotServer, secret: string, args: string[]) =>
  server.cli(args, { env: { INGOT_TOKEN: secret } });

function refused(r: CliResult, code: 'FORBIDDEN' | 'UNAUTHENTICATED', words: RegExp) {
  expect(r.code, r.stderr).toBe(ERROR_CODES[code].exit);
  expect(r.stderr).toContain(`[${code}]`);
  expect(r.stderr).toMatch(words);
}

describe('roles', () => {
  let reader: string;
  let operator: string;

  beforeAll(async () => {
    reader = await createToken(a, 'dashboard', 'reader');
    operator = await createToken(a, 'ci-deploy', 'operator', ['--expires', '30d']);
  });

  it('a reader lists but may not add', async () => {
    const list = await as(a, reader, ['image', 'list']);
    expect(list.code, list.stderr).toBe(0);
    const add = await as(a, reader, ['image', 'add', 'BY_READER', '--file', file]);
    refused(add, 'FORBIDDEN', /the token dashboard has the role reader; POST \S+ needs operator/);
    expect((await a.json<unknown[]>(['image', 'list'])).length).toBe(0);
  });

  it('an operator adds (by upload: reading a server path is the admin’s) and pulls', async () => {
    const add = await as(a, operator, ['image', 'add', 'BY_OPERATOR', '--file', file, '--json']);
    expect(add.code, add.stderr).toBe(0);
    const pull = await as(a, operator, ['image', 'pull', 'ACC_B_IMG', '--server', 'ACC_B']);
    expect(pull.code, pull.stderr).toBe(0);
    const names = (await a.json<{ name: string }[]>(['image', 'list'])).map((i) => i.name).sort();
    expect(names).toEqual(['ACC_B_IMG', 'BY_OPERATOR']);
  });

  it('an operator may not create tokens, delete, collect garbage or read the audit', async () => {
    refused(
      await as(a, operator, ['token', 'create', 'sneaky', '--role', 'admin']),
      'FORBIDDEN',
      /needs admin/,
    );
    refused(
      await as(a, operator, ['image', 'delete', 'BY_OPERATOR']),
      'FORBIDDEN',
      /role operator.*needs admin/,
    );
    refused(await as(a, operator, ['gc']), 'FORBIDDEN', /needs admin/);
    refused(await as(a, operator, ['audit']), 'FORBIDDEN', /needs admin/);
    expect((await a.json<{ name: string }[]>(['token', 'list'])).map((t) => t.name)).not.toContain('sneaky');
  });

  it('a revoked token and an expired one are refused, saying which', async () => {
    const short = await createToken(a, 'short-lived', 'reader', ['--expires', '1h']);
    expect((await as(a, short, ['image', 'list'])).code).toBe(0);
    // Its hour is over: the catalog says so (no test waits an hour).
    const db = await openDatabase({ url: `sqlite:${join(a.home, 'catalog.sqlite')}` });
    await db.kysely
      .updateTable('api_tokens')
      .set({ expires_at: '2020-01-01T00:00:00.000Z' })
      .where('name', '=', 'short-lived')
      .execute();
    await db.close();
    refused(
      await as(a, short, ['image', 'list']),
      'UNAUTHENTICATED',
      /the token short-lived expired at 2020-01-01/,
    );

    const revoke = await a.cli(['token', 'revoke', 'dashboard']);
    expect(revoke.code, revoke.stderr).toBe(0);
    refused(await as(a, reader, ['image', 'list']), 'UNAUTHENTICATED', /the token dashboard was revoked at/);
    refused(await as(a, 'ingot_nonsense', ['image', 'list']), 'UNAUTHENTICATED', /not valid for this server/);
  });

  it('the INGOT_HOME token stays the admin’s; the list shows every token and no secret', async () => {
    const list = await a.cli(['token', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/admin \(token file\)\s+admin\s+active/);
    expect(list.stdout).toMatch(/dashboard\s+reader\s+revoked/);
    expect(list.stdout).toMatch(/ci-deploy\s+operator\s+active/);
    expect(list.stdout).toMatch(/short-lived\s+reader\s+expired/);
    const tokens = await a.json<{ name: string; lastUsedAt: string | null; expiresAt: string | null }[]>([
      'token',
      'list',
    ]);
    const json = JSON.stringify(tokens);
    for (const secret of [reader, operator, a.token]) expect(json).not.toContain(secret);
    const ci = tokens.find((t) => t.name === 'ci-deploy');
    expect(ci?.lastUsedAt).not.toBeNull();
    expect(Date.parse(ci?.expiresAt ?? '') - Date.now()).toBeGreaterThan(29 * 86_400_000);
    const again = await a.cli(['token', 'create', 'ci-deploy', '--role', 'reader']);
    expect(again.code, again.stderr).toBe(ERROR_CODES.ALREADY_EXISTS.exit);
  });
});

describe('the audit record', () => {
  it('shows each change and each refusal with the token’s name, newest first', async () => {
    const entries = await a.json<AuditRecord[]>(['audit', '--limit', '500']);
    const has = (e: Partial<AuditRecord>) => expect(entries).toContainEqual(expect.objectContaining(e));
    has({ token: 'admin', method: 'POST', route: '/api/v1/tokens', target: 'ci-deploy', status: 201 });
    has({ token: 'ci-deploy', method: 'POST', route: '/api/v1/images', target: 'BY_OPERATOR', status: 201 });
    has({ token: 'ci-deploy', method: 'POST', route: '/api/v1/peers/:name/pull', target: 'ACC_B' });
    has({
      token: 'dashboard',
      method: 'POST',
      route: '/api/v1/images/preflight',
      status: 403,
      code: 'FORBIDDEN',
    });
    has({
      token: 'ci-deploy',
      method: 'DELETE',
      route: '/api/v1/images/:name',
      target: 'BY_OPERATOR',
      code: 'FORBIDDEN',
    });
    has({ token: 'ci-deploy', method: 'GET', route: '/api/v1/audit', status: 403 });
    has({
      token: 'admin',
      method: 'DELETE',
      route: '/api/v1/tokens/:name',
      target: 'dashboard',
      status: 200,
    });
    expect(entries.every((e) => e.remote === '127.0.0.1')).toBe(true);
    // The data path's batches are not each recorded.
    expect(entries.filter((e) => e.route.startsWith('/api/v1/chunks'))).toEqual([]);
    const revoked = entries.findIndex((e) => e.route === '/api/v1/tokens/:name');
    const created = entries.findIndex((e) => e.route === '/api/v1/tokens' && e.target === 'dashboard');
    expect(revoked).toBeLessThan(created);
    const table = await a.cli(['audit']);
    expect(table.stdout).toMatch(/ci-deploy\s+127\.0\.0\.1\s+POST\s+\/api\/v1\/images\s+BY_OPERATOR\s+201/);
  });
});

describe('/metrics', () => {
  it('is open by default, behind any valid token by the setting, open again by the flag', async () => {
    expect((await fetch(`${a.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${b.url}/metrics`)).status).toBe(401);
    const scrape = await createToken(b, 'prometheus', 'reader');
    const res = await fetch(`${b.url}/metrics`, { headers: { authorization: `Bearer ${scrape}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('ingot_store_chunks');
    await b.stop();
    b = await startIngot({ home: bHome, args: ['--metrics', 'open'] });
    expect((await fetch(`${b.url}/metrics`)).status).toBe(200);
  });
});

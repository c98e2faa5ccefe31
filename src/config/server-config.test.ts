import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadServerConfig } from './server-config.js';

const home = (stored?: object) => {
  const h = mkdtempSync(join(tmpdir(), 'ingot-config-'));
  if (stored) {
    writeFileSync(join(h, 'config.json'), JSON.stringify({ clusterName: 'C', createdAt: '', ...stored }));
  }
  return h;
};

describe('the REST API TLS setting', () => {
  it('is off by default, and on by --tls, INGOT_TLS=1 or "tls": true', async () => {
    expect((await loadServerConfig({ home: home() }, {})).apiTls).toEqual({ kind: 'off' });
    expect((await loadServerConfig({ home: home(), tls: true }, {})).apiTls).toEqual({ kind: 'self-signed' });
    expect((await loadServerConfig({ home: home() }, { INGOT_TLS: 'on' })).apiTls).toEqual({
      kind: 'self-signed',
    });
    expect((await loadServerConfig({ home: home({ tls: true }) }, {})).apiTls).toEqual({
      kind: 'self-signed',
    });
    // The environment wins over config.json.
    expect((await loadServerConfig({ home: home({ tls: true }) }, { INGOT_TLS: '0' })).apiTls).toEqual({
      kind: 'off',
    });
  });

  it('takes a certificate and key from flags, INGOT_TLS_CERT/KEY or config.json (there relative to the home)', async () => {
    const flags = await loadServerConfig({ home: home(), tlsCert: '/a.crt', tlsKey: '/a.key' }, {});
    expect(flags.apiTls).toEqual({ kind: 'given', certFile: '/a.crt', keyFile: '/a.key' });
    const env = await loadServerConfig({ home: home() }, { INGOT_TLS_CERT: 'b.crt', INGOT_TLS_KEY: 'b.key' });
    expect(env.apiTls).toEqual({ kind: 'given', certFile: resolve('b.crt'), keyFile: resolve('b.key') });
    const h = home({ tlsCert: 'keys/c.crt', tlsKey: 'keys/c.key' });
    expect((await loadServerConfig({ home: h }, {})).apiTls).toEqual({
      kind: 'given',
      certFile: join(h, 'keys', 'c.crt'),
      keyFile: join(h, 'keys', 'c.key'),
    });
  });

  it('refuses a certificate without its key, one given with TLS off, and a bad switch', async () => {
    const refused = { code: 'INVALID_ARGUMENT' };
    await expect(loadServerConfig({ home: home(), tlsCert: '/a.crt' }, {})).rejects.toMatchObject(refused);
    await expect(loadServerConfig({ home: home() }, { INGOT_TLS_KEY: '/a.key' })).rejects.toMatchObject(
      refused,
    );
    await expect(
      loadServerConfig({ home: home(), tlsCert: '/a.crt', tlsKey: '/a.key' }, { INGOT_TLS: 'false' }),
    ).rejects.toMatchObject(refused);
    await expect(loadServerConfig({ home: home() }, { INGOT_TLS: 'maybe' })).rejects.toMatchObject(refused);
    await expect(loadServerConfig({ home: home({ tls: 'yes' }) }, {})).rejects.toMatchObject(refused);
  });
});

describe('the audit retention', () => {
  it('is 365 days by default, from --audit-days, INGOT_AUDIT_DAYS or "auditDays", 0 keeping all', async () => {
    expect((await loadServerConfig({ home: home() }, {})).auditDays).toBe(365);
    expect((await loadServerConfig({ home: home(), auditDays: '90' }, {})).auditDays).toBe(90);
    expect((await loadServerConfig({ home: home({ auditDays: 30 }) }, {})).auditDays).toBe(30);
    expect(
      (await loadServerConfig({ home: home({ auditDays: 30 }) }, { INGOT_AUDIT_DAYS: '0' })).auditDays,
    ).toBe(0);
  });

  it('refuses what is not a whole number of days', async () => {
    for (const bad of ['-1', '1.5', 'week', '1e3']) {
      await expect(loadServerConfig({ home: home(), auditDays: bad }, {})).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    await expect(loadServerConfig({ home: home({ auditDays: 'x' }) }, {})).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { normalizePin, serverTrust } from './server-trust.js';

const PIN = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':');

describe('normalizePin', () => {
  it.each([
    [PIN, PIN],
    [PIN.toLowerCase(), PIN],
    [PIN.replace(/:/g, ''), PIN],
    [`sha256:${PIN.replace(/:/g, '').toLowerCase()}`, PIN],
    [` ${PIN} `, PIN],
  ])('takes %s', (given, expected) => {
    expect(normalizePin(given)).toBe(expected);
  });

  it.each(['', 'AB:CD', `${PIN}:00`, PIN.replace('0', 'G')])('refuses %j with INVALID_ARGUMENT', (given) => {
    expect(() => normalizePin(given)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('serverTrust', () => {
  const local = { url: 'https://127.0.0.1:7480', fingerprint: PIN };

  it('pins the fingerprint of server.json for the server it names, and only for it', async () => {
    expect(await serverTrust('https://127.0.0.1:7480', {}, local)).toEqual({
      pin: PIN,
      pinFrom: 'server.json',
    });
    expect(await serverTrust('https://127.0.0.1:7490', {}, local)).toEqual({});
    expect(await serverTrust('https://localhost:7480', {}, local)).toEqual({});
  });

  it('lets --pin win over server.json, and needs nothing for plain http', async () => {
    const other = PIN.replace(/^00/, 'FF');
    expect(await serverTrust('https://127.0.0.1:7480', { pin: other }, local)).toEqual({
      pin: other,
      pinFrom: '--pin',
    });
    expect(await serverTrust('http://127.0.0.1:7480', {}, local)).toBeUndefined();
  });

  it('refuses --pin and --cacert on plain http, and a --cacert that is no certificate', async () => {
    await expect(serverTrust('http://10.0.0.1:7480', { pin: PIN }, undefined)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      serverTrust('https://10.0.0.1:7480', { cacert: '/nonexistent.pem' }, undefined),
    ).rejects.toMatchObject({
      code: 'PATH_NOT_FOUND',
    });
    await expect(
      serverTrust('https://10.0.0.1:7480', { cacert: import.meta.filename }, undefined),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { seal, unseal } from './seal.js';

const FAST = { log2N: 10, r: 8, p: 1 };

describe('seal', () => {
  it('round-trips with the default (memory-hard) parameters', async () => {
    const plain = Buffer.from('the signing key and the token');
    const sealed = await seal(plain, 'correct horse battery');
    expect(sealed.subarray(0, 4).toString()).toBe('IGSL');
    expect(sealed[5]).toBe(17);
    expect(sealed.includes(plain)).toBe(false);
    expect(await unseal(sealed, 'correct horse battery')).toEqual(plain);
  });

  it('refuses a wrong passphrase', async () => {
    const sealed = await seal(Buffer.from('secret'), 'right passphrase', FAST);
    await expect(unseal(sealed, 'wrong passphrase')).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('refuses a changed ciphertext, tag or header byte', async () => {
    const sealed = await seal(Buffer.from('secret bytes here'), 'right passphrase', FAST);
    for (const at of [40, sealed.length - 1, 10]) {
      const bad = Buffer.from(sealed);
      bad[at] = (bad[at] as number) ^ 1;
      await expect(unseal(bad, 'right passphrase')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
  });

  it('refuses what is not sealed, a newer version and a short passphrase', async () => {
    await expect(
      unseal(Buffer.from('plain text, not sealed at all, nope'), 'right passphrase'),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const sealed = await seal(Buffer.from('x'), 'right passphrase', FAST);
    sealed[4] = 2;
    await expect(unseal(sealed, 'right passphrase')).rejects.toThrow(/version 2/);
    await expect(seal(Buffer.from('x'), 'short')).rejects.toThrow(/shorter than 8/);
  });
});

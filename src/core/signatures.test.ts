import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyId } from './signatures.js';

describe('keyId', () => {
  it('is the SHA-256 of the SPKI DER, whatever the PEM looks like', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const expected = createHash('sha256').update(der).digest('hex');
    expect(keyId(pem)).toBe(expected);
    expect(keyId(pem.replace(/\n/g, '\r\n'))).toBe(expected);
    expect(keyId(`\n${pem}\n`)).toBe(expected);
  });

  it('tells two keys apart', () => {
    const a = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const b = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(keyId(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(keyId(a)).not.toBe(keyId(b));
  });
});

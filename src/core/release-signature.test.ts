import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SIGN_RELEASE } from '../cli/commands/update.command.js';
import { MAKE_PUBLISHER_KEY } from '../cli/commands/update-keys.command.js';
import {
  type PublisherKey,
  parsePublisherKey,
  parseReleaseSignature,
  releaseMessage,
  releaseSigner,
} from './release-signature.js';
import { keyId, signatureMessage } from './signatures.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function publisher(name: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const key: PublisherKey = { name, keyId: keyId(publicKeyPem), publicKeyPem };
  return { key, privateKey, sign: (message: Buffer) => sign(null, message, privateKey) };
}

const tarball = Buffer.from('the bytes of ingot-0.2.0.tgz');

describe('release signatures', () => {
  const acme = publisher('acme');
  const other = publisher('other');

  it('finds the trusted key that signed the tarball, among several', () => {
    const sig = acme.sign(releaseMessage(sha(tarball)));
    expect(releaseSigner([other.key, acme.key], sha(tarball), sig)).toBe(acme.key);
    expect(releaseMessage(sha(tarball)).toString()).toBe(`ingot-release-v1 ${sha(tarball)}`);
  });

  it('refuses a signature by a key not trusted', () => {
    const sig = other.sign(releaseMessage(sha(tarball)));
    expect(() => releaseSigner([acme.key], sha(tarball), sig)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
  });

  it('refuses a tampered tarball: the signature is over the SHA-256 of other bytes', () => {
    const sig = acme.sign(releaseMessage(sha(tarball)));
    const tampered = Buffer.concat([tarball, Buffer.from('!')]);
    expect(() => releaseSigner([acme.key], sha(tampered), sig)).toThrow(
      expect.objectContaining({
        code: 'BAD_SIGNATURE',
        details: expect.objectContaining({ sha256: sha(tampered) }),
      }),
    );
  });

  it('refuses a signature over another digest, or over the same digest as a manifest', () => {
    const another = acme.sign(releaseMessage('0'.repeat(64)));
    const asManifest = acme.sign(signatureMessage(sha(tarball) as never));
    const bare = acme.sign(Buffer.from(sha(tarball)));
    for (const sig of [another, asManifest, bare]) {
      expect(() => releaseSigner([acme.key], sha(tarball), sig)).toThrow(
        expect.objectContaining({ code: 'BAD_SIGNATURE' }),
      );
    }
  });

  it('keeps a release on its SHA-256 alone only when no key is trusted and none is given', () => {
    const sig = acme.sign(releaseMessage(sha(tarball)));
    expect(releaseSigner([], sha(tarball), undefined)).toBeNull();
    expect(() => releaseSigner([], sha(tarball), sig)).toThrow(
      expect.objectContaining({
        code: 'BAD_SIGNATURE',
        message: expect.stringMatching(/trusts no publisher key/),
      }),
    );
    expect(() => releaseSigner([acme.key], sha(tarball), undefined)).toThrow(
      expect.objectContaining({
        code: 'BAD_SIGNATURE',
        message: expect.stringMatching(/carries no signature/),
      }),
    );
  });

  it('reads a signature file as 64 raw bytes or their base64, and refuses anything else', () => {
    const sig = acme.sign(releaseMessage(sha(tarball)));
    expect(parseReleaseSignature(sig)).toEqual(sig);
    expect(parseReleaseSignature(Buffer.from(`${sig.toString('base64')}\n`))).toEqual(sig);
    for (const bad of [
      Buffer.alloc(0),
      sig.subarray(0, 63),
      Buffer.concat([sig, Buffer.from([0])]),
      Buffer.from(`${sig.toString('base64').slice(0, 80)}!!!!!!==`),
      Buffer.from(sig.toString('hex')),
      Buffer.alloc(1_000_000, 'A'),
    ]) {
      expect(() => parseReleaseSignature(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });

  it('takes an Ed25519 public key in PEM, whatever its line ends, and refuses other keys', () => {
    const parsed = parsePublisherKey(acme.key.publicKeyPem.replace(/\n/g, '\r\n'));
    expect(parsed).toEqual({ keyId: acme.key.keyId, publicKeyPem: acme.key.publicKeyPem });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const privatePem = acme.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    for (const bad of [
      '',
      'not a key',
      String(rsa),
      privatePem,
      '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n',
      '-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n',
      `${acme.key.publicKeyPem}${'#'.repeat(5000)}`,
    ]) {
      expect(() => parsePublisherKey(bad), bad.slice(0, 40)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });

  it('checks what the documented openssl commands make', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ingot-sign-'));
    try {
      writeFileSync(join(dir, 'ingot-0.2.0.tgz'), tarball);
      execFileSync('sh', ['-c', `${MAKE_PUBLISHER_KEY} && ${SIGN_RELEASE}`], { cwd: dir, stdio: 'pipe' });
      const key = { name: 'acme', ...parsePublisherKey(readFileSync(join(dir, 'publisher.pub'), 'utf8')) };
      const sig = parseReleaseSignature(readFileSync(join(dir, 'ingot-0.2.0.tgz.sig')));
      expect(releaseSigner([key], sha(tarball), sig)).toBe(key);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

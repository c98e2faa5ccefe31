import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IngotError } from '../core/errors.js';
import { documentMessage, type SigningIdentity, signatureMessage } from '../core/signatures.js';

/**
 * A server's signing identity: an Ed25519 key pair made at first start. The origin signs
 * each manifest digest; anyone holding the public key (peers, bundle importers) can check
 * that an image really came from that origin unchanged (core/signatures.ts).
 */
export async function loadOrCreateIdentity(keyPath: string, pubPath: string): Promise<SigningIdentity> {
  const privateKey = await loadOrCreateKey(keyPath, pubPath);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return {
    publicKeyPem,
    signDigest: (digest) => sign(null, signatureMessage(digest), privateKey).toString('base64'),
    signDocument: (kind, digest) => sign(null, documentMessage(kind, digest), privateKey).toString('base64'),
  };
}

async function loadOrCreateKey(keyPath: string, pubPath: string): Promise<KeyObject> {
  try {
    return createPrivateKey(await readFile(keyPath, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new IngotError('CORRUPT', `cannot read the signing key ${keyPath}: ${(err as Error).message}`);
    }
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await mkdir(dirname(keyPath), { recursive: true, mode: 0o700 });
  await writeFile(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  await writeFile(pubPath, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  return privateKey;
}

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';

/**
 * A server's signing identity: an Ed25519 key pair made at first start. The origin signs
 * each manifest digest; anyone holding the public key (peers, bundle importers) can check
 * that an image really came from that origin unchanged.
 */
export interface SigningIdentity {
  readonly publicKeyPem: string;
  signDigest(digest: Digest): string;
  /** Signs the SHA-256 of a template version or bundle header this server vouches for. */
  signDocument(kind: DocumentKind, digest: string): string;
}

/** Documents other than manifests that a server signs; each has its own message prefix. */
export type DocumentKind = 'template' | 'bundle';

export function documentMessage(kind: DocumentKind, digest: string): Buffer {
  return Buffer.from(`ingot-${kind}-v1 ${digest}`, 'utf8');
}

export function verifyDocumentSignature(
  publicKeyPem: string,
  kind: DocumentKind,
  digest: string,
  signature: string,
): boolean {
  try {
    return verify(null, documentMessage(kind, digest), publicKeyPem, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** Domain separation: a signature over a manifest can never be replayed as anything else. */
export function signatureMessage(digest: Digest): Buffer {
  return Buffer.from(`ingot-manifest-v1 ${digest}`, 'utf8');
}

export async function loadOrCreateIdentity(keyPath: string, pubPath: string): Promise<SigningIdentity> {
  const privateKey = await loadOrCreateKey(keyPath, pubPath);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return {
    publicKeyPem,
    signDigest: (digest) => sign(null, signatureMessage(digest), privateKey).toString('base64'),
    signDocument: (kind, digest) => sign(null, documentMessage(kind, digest), privateKey).toString('base64'),
  };
}

export function verifyDigestSignature(publicKeyPem: string, digest: Digest, signature: string): boolean {
  try {
    return verify(null, signatureMessage(digest), publicKeyPem, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
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

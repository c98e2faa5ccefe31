import { createHash, createPublicKey, verify } from 'node:crypto';
import type { Digest } from './manifest.js';

/**
 * What a server's signature covers and how anyone checks it: a manifest digest, or the
 * SHA-256 of a document it vouches for (a template version, a bundle header), each behind
 * its own message prefix. Pure: the key that signs is the federation's (identity.ts).
 */

/** A server's signing identity, as those that sign through it see it. */
export interface SigningIdentity {
  readonly publicKeyPem: string;
  signDigest(digest: Digest): string;
  /** Signs the SHA-256 of a template version or bundle header this server vouches for. */
  signDocument(kind: DocumentKind, digest: string): string;
}

/** Documents other than manifests that a server signs; each has its own message prefix. */
export type DocumentKind = 'template' | 'bundle' | 'snapshot';

/**
 * A JSON document a server vouches for: a template version (the images a follower must
 * hold) or a bundle header (the images a bundle carries). The canonical bytes travel as
 * they are; the signature covers their SHA-256, so a receiver that pinned the signer's key
 * can trust every image digest the document lists without knowing each image's origin.
 */
export interface SignedDocument {
  readonly body: string;
  readonly signature: string;
}

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

export function verifyDigestSignature(publicKeyPem: string, digest: Digest, signature: string): boolean {
  try {
    return verify(null, signatureMessage(digest), publicKeyPem, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * A server's identity: the SHA-256 (hex) of its signing key's SubjectPublicKeyInfo DER.
 * Cluster names may repeat; two servers never share a key. Any PEM form of one key gives
 * the same id.
 */
export function keyId(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

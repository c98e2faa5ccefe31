import { createPublicKey, verify } from 'node:crypto';
import { IngotError } from './errors.js';
import { keyId } from './signatures.js';

/**
 * A release's publisher signature (docs/design.md, "Rolling self-update"): Ed25519 over
 * `ingot-release-v1 <sha256 hex>` of the tarball, the publisher's own key, as signify and
 * minisign sign a file's hash. Pure: the keys a server trusts are the catalog's.
 */

/** A publisher key in PEM (SPKI) is ~113 characters; this leaves room for comments around it. */
export const PUBLISHER_KEY_CHARS = 4096;
/** A signature file: the 64 raw bytes openssl writes, or their base64 (88 characters and a newline). */
export const SIGNATURE_FILE_BYTES = 1024;
const SIGNATURE_BYTES = 64;
const BASE64 = /^[A-Za-z0-9+/]{86}==$/;

export interface PublisherKey {
  readonly keyId: string;
  readonly name: string;
  readonly publicKeyPem: string;
}

/** Domain separation: a release signature is never a manifest's or a document's. */
export function releaseMessage(sha256: string): Buffer {
  return Buffer.from(`ingot-release-v1 ${sha256}`, 'utf8');
}

/** An Ed25519 public key in PEM, as its SPKI PEM and key id; a private key is refused. */
export function parsePublisherKey(pem: string): { keyId: string; publicKeyPem: string } {
  const refuse = (why: string) =>
    new IngotError('INVALID_ARGUMENT', `not a publisher key: ${why}`, {
      hint: 'give the Ed25519 public key in PEM: openssl pkey -in publisher.key -pubout -out publisher.pub',
    });
  if (pem.length > PUBLISHER_KEY_CHARS) throw refuse(`more than ${PUBLISHER_KEY_CHARS} characters`);
  if (!/-----BEGIN PUBLIC KEY-----/.test(pem)) throw refuse('no "BEGIN PUBLIC KEY" block');
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey(pem);
  } catch {
    throw refuse('the PEM does not parse');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw refuse(`an ${key.asymmetricKeyType} key, not Ed25519`);
  const publicKeyPem = key.export({ type: 'spki', format: 'pem' }).toString();
  return { keyId: keyId(publicKeyPem), publicKeyPem };
}

/** A signature file's content: 64 raw bytes, or their base64 (surrounding white space ignored). */
export function parseReleaseSignature(bytes: Buffer): Buffer {
  if (bytes.length === SIGNATURE_BYTES) return bytes;
  const text = bytes.length <= SIGNATURE_FILE_BYTES ? bytes.toString('latin1').trim() : '';
  if (BASE64.test(text)) return Buffer.from(text, 'base64');
  throw new IngotError(
    'INVALID_ARGUMENT',
    `not an Ed25519 signature: ${bytes.length} bytes, neither 64 raw bytes nor their base64`,
    { hint: 'sign with: openssl pkeyutl -sign -inkey publisher.key -rawin -in MESSAGE -out X.tgz.sig' },
  );
}

/**
 * Refuses what no check could accept, before a tarball is read: a signature while no key is
 * trusted (nothing could check it), none while keys are.
 */
export function requireSignatureIfTrusted(keys: readonly PublisherKey[], signed: boolean): void {
  if (keys.length === 0 && signed) {
    throw new IngotError('BAD_SIGNATURE', 'the release is signed, but this server trusts no publisher key', {
      hint: "add the publisher's key first: ingot update keys add --file publisher.pub; nothing was kept",
    });
  }
  if (keys.length > 0 && !signed) {
    throw new IngotError(
      'BAD_SIGNATURE',
      'the release carries no signature, and this server trusts publisher keys',
      {
        details: { keys: keys.map((k) => k.keyId) },
        hint: "give the publisher's signature: --signature X.tgz.sig (or --signature-url URL); nothing was kept",
      },
    );
  }
}

/**
 * The trusted key that signed the tarball whose SHA-256 is `sha256`; null when no key is
 * trusted and none was given (the SHA-256 alone vouches then). BAD_SIGNATURE otherwise.
 */
export function releaseSigner(
  keys: readonly PublisherKey[],
  sha256: string,
  signature: Buffer | undefined,
): PublisherKey | null {
  requireSignatureIfTrusted(keys, signature !== undefined);
  if (signature === undefined) return null;
  const message = releaseMessage(sha256);
  const signer = keys.find((k) => verify(null, message, k.publicKeyPem, signature));
  if (signer) return signer;
  throw new IngotError(
    'BAD_SIGNATURE',
    `the release's signature does not check against any trusted publisher key`,
    {
      details: { sha256, keys: keys.map((k) => k.keyId) },
      hint: `the signature must be over "ingot-release-v1 ${sha256}" by a key of: ingot update keys list; nothing was kept`,
    },
  );
}

import { createHash } from 'node:crypto';
import { isBaseType } from '../catalog/types.js';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { canonicalJson, type Json } from '../core/manifest-codec.js';
import {
  type DocumentKind,
  type SignedDocument,
  type SigningIdentity,
  verifyDocumentSignature,
} from '../core/signatures.js';
import { parseImageState } from '../core/states.js';
import type { OfferMeta } from '../transfer/image-sides.js';

/** Signing and opening the documents of core/signatures.ts: canonical JSON bodies, the offers they list. */

export function signDocument(identity: SigningIdentity, kind: DocumentKind, value: Json): SignedDocument {
  const body = canonicalJson(value);
  return { body, signature: identity.signDocument(kind, sha256(body)) };
}

/** Checks the signature with the signer's pinned key and returns the parsed body. */
export function openDocument(
  doc: SignedDocument,
  kind: DocumentKind,
  signerKeyPem: string,
  signer: string,
): Record<string, unknown> {
  if (!verifyDocumentSignature(signerKeyPem, kind, sha256(doc.body), doc.signature)) {
    throw new IngotError('BAD_SIGNATURE', `the ${kind} does not carry a valid signature of ${signer}`, {
      hint: `it was changed after ${signer} signed it, or ${signer} did not sign it; nothing was changed`,
    });
  }
  const parsed = JSON.parse(doc.body) as unknown;
  if (typeof parsed !== 'object' || parsed === null) throw malformed(kind, 'not an object');
  return parsed as Record<string, unknown>;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function offerToJson(m: OfferMeta): Json {
  return {
    name: m.name,
    digest: m.digest,
    origin: m.origin,
    signature: m.signature,
    state: m.state,
    imageType: m.imageType,
    baseType: m.baseType,
    size: m.size,
    ...(m.originKey ? { originKey: m.originKey } : {}),
  };
}

/** Validates one listed image of a signed document. */
export function parseOffer(kind: DocumentKind, v: unknown): OfferMeta {
  const o = (v ?? {}) as Record<string, unknown>;
  const str = (k: string) => {
    if (typeof o[k] !== 'string') throw malformed(kind, `an image lacks ${k}`);
    return o[k] as string;
  };
  if (!/^[0-9a-f]{64}$/.test(str('digest'))) throw malformed(kind, 'an image digest is not SHA-256 hex');
  if (!isBaseType(str('baseType'))) throw malformed(kind, `unknown base type ${str('baseType')}`);
  if (!Number.isSafeInteger(o.size) || (o.size as number) < 0)
    throw malformed(kind, 'an image size is invalid');
  if (o.originKey !== undefined && (typeof o.originKey !== 'string' || o.originKey.length > MAX_KEY_PEM))
    throw malformed(kind, 'an origin key is not a PEM string');
  return {
    name: str('name'),
    digest: str('digest') as Digest,
    origin: str('origin'),
    signature: str('signature'),
    state: parseImageState(str('state')),
    imageType: str('imageType'),
    baseType: str('baseType'),
    size: o.size as number,
    ...(typeof o.originKey === 'string' ? { originKey: o.originKey } : {}),
  };
}

/** An Ed25519 public key's PEM is 113 characters; this leaves room for other key types. */
export const MAX_KEY_PEM = 1024;

export function malformed(kind: DocumentKind, why: string): IngotError {
  return new IngotError('INVALID_ARGUMENT', `malformed ${kind}: ${why}`);
}

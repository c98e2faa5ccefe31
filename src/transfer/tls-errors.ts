/**
 * What a failed TLS connection says about trust, in Node's words: shared by the peer client
 * (its peer's pinned certificate) and the CLI (its server's pin or CA), which each turn it
 * into their own error.
 */

/** Node's codes for a server certificate that does not check against what the client trusts. */
export const CERTIFICATE_ERRORS: ReadonlySet<string> = new Set([
  'ERR_PEER_CERT_MISMATCH',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Node's codes for a certificate outside its validity dates. */
export const EXPIRED_CERTIFICATE_ERRORS: ReadonlySet<string> = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

/** The code of a failed call, which undici may keep in the cause. */
export function tlsErrorCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code;
}

export function describeTlsError(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
}

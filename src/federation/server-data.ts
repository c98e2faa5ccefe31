import { createPublicKey, X509Certificate } from 'node:crypto';
import { IngotError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import { certificateFingerprint } from './certificate.js';

/**
 * The server-data file (`ingot export server`): everything another server needs to pin
 * this one as a peer. It holds no secret: the TLS certificate and the manifest-signing
 * public key, the cluster name and where the peer API listens.
 */
export interface ServerData {
  readonly format: 'ingot-serverdata';
  readonly version: 1;
  readonly name: string;
  /** https URL of the peer API (mutual TLS). */
  readonly endpoint: string;
  readonly certificate: string;
  readonly signingKey: string;
  readonly exportedAt: string;
}

export interface ParsedServerData extends ServerData {
  readonly fingerprint: string;
}

export function parseServerData(input: unknown): ParsedServerData {
  if (typeof input !== 'object' || input === null) throw bad('it is not a JSON object');
  const d = input as Record<string, unknown>;
  if (d.format !== 'ingot-serverdata') throw bad('its format is not "ingot-serverdata"');
  if (d.version !== 1) throw bad(`version ${JSON.stringify(d.version)} is not supported (only 1)`);
  const name = checkName('peer', d.name);
  const endpoint = parseEndpoint(d.endpoint);
  const certificate = parseCertificate(d.certificate);
  const signingKey = parseSigningKey(d.signingKey);
  return {
    format: 'ingot-serverdata',
    version: 1,
    name,
    endpoint,
    certificate,
    signingKey,
    exportedAt: typeof d.exportedAt === 'string' ? d.exportedAt : '',
    fingerprint: certificateFingerprint(certificate),
  };
}

function parseEndpoint(value: unknown): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw bad(`endpoint ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'https:' || url.username || url.password || url.search || url.hash) {
    throw bad(`endpoint ${JSON.stringify(value)} must be a plain https:// URL`);
  }
  return url.origin;
}

function parseCertificate(value: unknown): string {
  if (typeof value !== 'string') throw bad('it has no certificate');
  let parsed: X509Certificate;
  try {
    const cert = new X509Certificate(value);
    if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey)) throw new Error('not self-signed');
    parsed = cert;
  } catch (err) {
    throw bad(`its certificate is not a valid self-signed certificate (${(err as Error).message})`);
  }
  if (Date.parse(parsed.validTo) <= Date.now()) throw bad(`its certificate expired on ${parsed.validTo}`);
  return parsed.toString();
}

function parseSigningKey(value: unknown): string {
  try {
    const key = createPublicKey(String(value));
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key`);
    return key.export({ type: 'spki', format: 'pem' }).toString();
  } catch (err) {
    throw bad(`its signing key is not an Ed25519 public key (${(err as Error).message})`);
  }
}

function bad(why: string): IngotError {
  return new IngotError('INVALID_ARGUMENT', `not a valid server-data file: ${why}`, {
    hint: 'use the file `ingot export server --serverdata FILE` wrote on the peer, unchanged',
  });
}

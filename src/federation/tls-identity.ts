import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IngotError } from '../core/errors.js';
import { certificateFingerprint, createSelfSignedCertificate } from './certificate.js';

/**
 * The key and self-signed certificate a server shows peers in mutual TLS. Made at first
 * start; peers pin it from the server-data file, so it must not change while peers trust it.
 */
export interface TlsIdentity {
  readonly keyPem: string;
  readonly certPem: string;
  readonly fingerprint: string;
  readonly notAfter: string;
}

export async function loadOrCreateTlsIdentity(
  keyPath: string,
  certPath: string,
  commonName: string,
): Promise<TlsIdentity> {
  const existing = await readPair(keyPath, certPath);
  if (existing) return describe(existing.keyPem, existing.certPem);
  const pair = createSelfSignedCertificate({ commonName });
  await mkdir(dirname(keyPath), { recursive: true, mode: 0o700 });
  await writeFile(keyPath, pair.keyPem, { mode: 0o600, flag: 'wx' });
  await writeFile(certPath, pair.certPem, { mode: 0o644, flag: 'wx' });
  return describe(pair.keyPem, pair.certPem);
}

function describe(keyPem: string, certPem: string): TlsIdentity {
  const cert = new X509Certificate(certPem);
  return { keyPem, certPem, fingerprint: certificateFingerprint(certPem), notAfter: cert.validTo };
}

async function readPair(keyPath: string, certPath: string) {
  try {
    return { keyPem: await readFile(keyPath, 'utf8'), certPem: await readFile(certPath, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new IngotError('CORRUPT', `cannot read the peer TLS key pair: ${(err as Error).message}`);
  }
}

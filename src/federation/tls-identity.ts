import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IngotError } from '../core/errors.js';
import {
  type CertificateOptions,
  certificateFingerprint,
  createSelfSignedCertificate,
} from './certificate.js';

/**
 * A key and certificate a server shows in TLS: to peers in mutual TLS (self-signed, made
 * at first start; peers pin it from the server-data file, so it must not change while peers
 * trust it), and to CLIs on the REST API with `ingot serve --tls` (self-signed and pinned by
 * fingerprint from server.json, or a pair the operator gives).
 */
export interface TlsIdentity {
  readonly keyPem: string;
  readonly certPem: string;
  readonly fingerprint: string;
  readonly notAfter: string;
}

/** The alternative names a new certificate carries; an existing one is kept as it is. */
export type AltNames = Pick<CertificateOptions, 'dnsNames' | 'ipAddresses'>;

export async function loadOrCreateTlsIdentity(
  keyPath: string,
  certPath: string,
  commonName: string,
  altNames: AltNames = {},
): Promise<TlsIdentity> {
  const existing = await readPair(keyPath, certPath, { absent: 'undefined' });
  if (existing) return describe(existing.keyPem, existing.certPem);
  const pair = createSelfSignedCertificate({ commonName, ...altNames });
  await mkdir(dirname(keyPath), { recursive: true, mode: 0o700 });
  await writeFile(keyPath, pair.keyPem, { mode: 0o600, flag: 'wx' });
  await writeFile(certPath, pair.certPem, { mode: 0o644, flag: 'wx' });
  return describe(pair.keyPem, pair.certPem);
}

/** A key and certificate given as files (`--tls-key`, `--tls-cert`): both must be there and match. */
export async function loadTlsIdentity(keyPath: string, certPath: string): Promise<TlsIdentity> {
  const pair = (await readPair(keyPath, certPath, { absent: 'throw' })) as {
    keyPem: string;
    certPem: string;
  };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.certPem);
  } catch (err) {
    throw new IngotError('INVALID_ARGUMENT', `${certPath} is not a PEM certificate`, { cause: err });
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(pair.keyPem));
  } catch (err) {
    throw new IngotError('INVALID_ARGUMENT', `${keyPath} is not a PEM private key`, { cause: err });
  }
  if (!matches) {
    throw new IngotError(
      'INVALID_ARGUMENT',
      `the key ${keyPath} is not the key of the certificate ${certPath}`,
      {
        hint: 'give the certificate and the private key it was issued for',
      },
    );
  }
  return describe(pair.keyPem, pair.certPem);
}

function describe(keyPem: string, certPem: string): TlsIdentity {
  const cert = new X509Certificate(certPem);
  return { keyPem, certPem, fingerprint: certificateFingerprint(certPem), notAfter: cert.validTo };
}

async function readPair(keyPath: string, certPath: string, opts: { absent: 'undefined' | 'throw' }) {
  try {
    return { keyPem: await readFile(keyPath, 'utf8'), certPem: await readFile(certPath, 'utf8') };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' && opts.absent === 'undefined') return undefined;
    if (opts.absent === 'throw') {
      throw new IngotError('PATH_NOT_FOUND', `cannot read ${e.path ?? certPath} (${e.code ?? e.message})`, {
        hint: 'give --tls-cert FILE and --tls-key FILE that this server can read',
      });
    }
    throw new IngotError('CORRUPT', `cannot read the TLS key pair ${keyPath}, ${certPath}: ${e.message}`);
  }
}

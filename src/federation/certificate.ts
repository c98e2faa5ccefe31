import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { IngotError } from '../core/errors.js';

// Self-signed X.509 certificates for pinned mutual TLS between servers. The structures and
// their DER are @peculiar/asn1-x509's (RFC 5280's schema); node:crypto makes the key and
// the signature. (@peculiar/x509, built on it, would also generate and sign, but it loads a
// dependency-injection container that needs a global Reflect metadata polyfill.) The
// profile is 0.1's, so each release's peers take the other's certificates: ECDSA P-256,
// ecdsa-with-SHA256, CN as a UTF8String, basic constraints cA (critical), key usage
// digitalSignature + keyCertSign (critical), extended key usage serverAuth + clientAuth, a
// subject key identifier (RFC 5280 method 1), and alternative names only when asked for.

export interface TlsKeyPair {
  readonly keyPem: string;
  readonly certPem: string;
}

export interface CertificateOptions {
  /** E.g. the server's cluster name. */
  readonly commonName: string;
  /** Default: now minus 1 hour, so a peer whose clock runs a little behind still accepts it. */
  readonly notBefore?: Date;
  /** Default: notBefore + 20 years; trust is pinned, so expiry is not what revokes it. */
  readonly notAfter?: Date;
  readonly dnsNames?: readonly string[];
  /** IPv4 and IPv6. */
  readonly ipAddresses?: readonly string[];
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const CLOCK_SKEW_MS = 3_600_000;
const DEFAULT_YEARS = 20;
const DNS_NAME = /^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/** A new ECDSA P-256 key and a self-signed certificate for it (signature ecdsa-with-SHA256). */
export function createSelfSignedCertificate(opts: CertificateOptions): TlsKeyPair {
  const name = distinguishedName(opts.commonName);
  const { notBefore, notAfter } = validity(opts);
  const altNames = subjectAltNames(opts.dnsNames ?? [], opts.ipAddresses ?? []);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signature = new asn.AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01; // positive and 16 bytes long: no byte to strip or pad
  const spki = AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), asn.SubjectPublicKeyInfo);
  const extensions = [
    // cA TRUE is what lets OpenSSL take the peer's certificate itself as the trust anchor.
    extension(asn.id_ce_basicConstraints, true, new asn.BasicConstraints({ cA: true })),
    extension(
      asn.id_ce_keyUsage,
      true,
      new asn.KeyUsage(asn.KeyUsageFlags.digitalSignature | asn.KeyUsageFlags.keyCertSign),
    ),
    extension(
      asn.id_ce_extKeyUsage,
      false,
      new asn.ExtendedKeyUsage([asn.id_kp_serverAuth, asn.id_kp_clientAuth]),
    ),
    extension(asn.id_ce_subjectKeyIdentifier, false, new asn.SubjectKeyIdentifier(keyIdentifier(publicKey))),
  ];
  if (altNames.length > 0) {
    extensions.push(extension(asn.id_ce_subjectAltName, false, new asn.SubjectAlternativeName(altNames)));
  }
  const tbs = new asn.TBSCertificate({
    version: asn.Version.v3,
    serialNumber: new Uint8Array(serial).buffer,
    signature,
    issuer: name,
    validity: new asn.Validity({ notBefore, notAfter }),
    subject: name,
    subjectPublicKeyInfo: spki,
    extensions: new asn.Extensions(extensions),
  });
  tbs.validity.notBefore = time(notBefore);
  tbs.validity.notAfter = time(notAfter);
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signatureValue = sign('sha256', tbsDer, { key: privateKey, dsaEncoding: 'der' });
  const cert = new asn.Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: signature,
    signatureValue: new Uint8Array(signatureValue).buffer,
  });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: toPem(Buffer.from(AsnConvert.serialize(cert))),
  };
}

/** SHA-256 fingerprint of a PEM certificate as Node prints it: upper-case hex pairs joined by ':'. */
export function certificateFingerprint(certPem: string): string {
  try {
    return new X509Certificate(certPem).fingerprint256;
  } catch (err) {
    throw new IngotError('INVALID_ARGUMENT', 'not a PEM certificate', { cause: err });
  }
}

function invalid(message: string): IngotError {
  return new IngotError('INVALID_ARGUMENT', message);
}

function distinguishedName(commonName: string): asn.Name {
  // 64 is X.520's upper bound for a common name; control characters would garble logs and UIs.
  const ok = typeof commonName === 'string' && /^\P{C}{1,64}$/u.test(commonName) && commonName.trim() !== '';
  if (!ok) throw invalid('commonName must be 1 to 64 printable characters');
  const cn = new asn.AttributeTypeAndValue({
    type: COMMON_NAME,
    value: new asn.AttributeValue({ utf8String: commonName }),
  });
  return new asn.Name([new asn.RelativeDistinguishedName([cn])]);
}

function validity(opts: CertificateOptions): { notBefore: Date; notAfter: Date } {
  const notBefore = wholeSeconds(opts.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS), 'notBefore');
  const later = new Date(notBefore);
  later.setUTCFullYear(later.getUTCFullYear() + DEFAULT_YEARS);
  const notAfter = wholeSeconds(opts.notAfter ?? later, 'notAfter');
  if (notAfter <= notBefore) throw invalid('notAfter must be later than notBefore');
  return { notBefore, notAfter };
}

/** Certificates carry whole seconds; truncating first keeps the checks true to what is written. */
function wholeSeconds(date: Date, label: string): Date {
  const ms = date instanceof Date ? date.getTime() : Number.NaN;
  const year = new Date(ms).getUTCFullYear();
  if (!Number.isFinite(ms) || year < 0 || year > 9999) throw invalid(`${label} must be in years 0-9999`);
  return new Date(ms - (((ms % 1000) + 1000) % 1000));
}

/** RFC 5280: UTCTime for 1950 through 2049, GeneralizedTime otherwise. */
function time(date: Date): asn.Time {
  const year = date.getUTCFullYear();
  return new asn.Time(year >= 1950 && year <= 2049 ? { utcTime: date } : { generalTime: date });
}

/** Whether a certificate may name `name` as a DNS alternative name (`*.` allowed in front). */
export function isDnsName(name: string): boolean {
  return name.length <= 253 && DNS_NAME.test(name);
}

function subjectAltNames(dnsNames: readonly string[], ipAddresses: readonly string[]): asn.GeneralName[] {
  const dns = dnsNames.map((dNSName) => {
    if (!isDnsName(dNSName)) throw invalid(`not a DNS name: ${dNSName}`);
    return new asn.GeneralName({ dNSName });
  });
  const ips = ipAddresses.map((iPAddress) => {
    // A zone index is local to one host, so it has no meaning in a certificate.
    const ok = isIPv4(iPAddress) || (isIPv6(iPAddress) && !iPAddress.includes('%'));
    if (!ok) throw invalid(`not an IP address: ${iPAddress}`);
    return new asn.GeneralName({ iPAddress });
  });
  return [...dns, ...ips];
}

function extension(extnID: string, critical: boolean, value: object): asn.Extension {
  // DER forbids writing a DEFAULT value: asn1-x509 leaves "not critical" out.
  return new asn.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** RFC 5280 method 1: SHA-1 of the public key bits, which here is the uncompressed EC point. */
function keyIdentifier(publicKey: KeyObject): ArrayBuffer {
  const { x = '', y = '' } = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]);
  return new Uint8Array(createHash('sha1').update(point).digest()).buffer;
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

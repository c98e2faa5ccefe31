import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { IngotError } from '../core/errors.js';

// Self-signed X.509 certificates for pinned mutual TLS between servers. node:crypto makes keys and
// signatures but not certificates, and a few hundred bytes of DER do not justify a dependency.

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

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const CLOCK_SKEW_MS = 3_600_000;
const DEFAULT_YEARS = 20;
const DNS_NAME = /^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/** A new ECDSA P-256 key and a self-signed certificate for it (signature ecdsa-with-SHA256). */
export function createSelfSignedCertificate(opts: CertificateOptions): TlsKeyPair {
  const name = distinguishedName(opts.commonName);
  const { notBefore, notAfter } = validity(opts);
  const altNames = subjectAltNames(opts.dnsNames ?? [], opts.ipAddresses ?? []);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // so the serial is positive without a padding byte
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // 2 means v3, the first version with extensions
    integer(serial),
    algorithm,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...extensions(publicKey, altNames))),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: toPem(seq(tbs, algorithm, bitString(signature))),
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

function distinguishedName(commonName: string): Buffer {
  // 64 is X.520's upper bound for a common name; control characters would garble logs and UIs.
  const ok = typeof commonName === 'string' && /^\P{C}{1,64}$/u.test(commonName) && commonName.trim() !== '';
  if (!ok) throw invalid('commonName must be 1 to 64 printable characters');
  return seq(set(seq(oid(OID.commonName), utf8(commonName))));
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

function subjectAltNames(dnsNames: readonly string[], ipAddresses: readonly string[]): Buffer[] {
  const dns = dnsNames.map((n) => {
    if (n.length > 253 || !DNS_NAME.test(n)) throw invalid(`not a DNS name: ${n}`);
    return implicit(2, Buffer.from(n, 'ascii'));
  });
  return [...dns, ...ipAddresses.map((ip) => implicit(7, ipBytes(ip)))];
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  // A zone index is local to one host, so it has no meaning in a certificate.
  if (!isIPv6(ip) || ip.includes('%')) throw invalid(`not an IP address: ${ip}`);
  const [head = '', tail = ''] = ip.split('::');
  const [front, back] = [ipv6Groups(head), ipv6Groups(tail)];
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return Buffer.from(all.flatMap((group) => [group >> 8, group & 0xff]));
}

/** 16-bit groups of one side of '::', where a trailing dotted IPv4 part counts as two groups. */
function ipv6Groups(part: string): number[] {
  if (part === '') return [];
  return part.split(':').flatMap((group) => {
    if (!group.includes('.')) return [Number.parseInt(group, 16)];
    const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
    return [(a << 8) | b, (c << 8) | d];
  });
}

function extensions(publicKey: KeyObject, altNames: Buffer[]): Buffer[] {
  const list = [
    // cA TRUE is what lets OpenSSL take the peer's certificate itself as the trust anchor.
    extension(OID.basicConstraints, true, seq(bool(true))),
    // digitalSignature (bit 0) and keyCertSign (bit 5); DER drops the two trailing zero bits.
    extension(OID.keyUsage, true, bitString(Buffer.from([0x84]), 2)),
    extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
    extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(publicKey))),
  ];
  if (altNames.length > 0) list.push(extension(OID.subjectAltName, false, seq(...altNames)));
  return list;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  // DER forbids writing a DEFAULT value, so "not critical" is expressed by omission.
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** RFC 5280 method 1: SHA-1 of the public key bits, which here is the uncompressed EC point. */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const { x = '', y = '' } = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]);
  return createHash('sha1').update(point).digest();
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

// A minimal DER writer: just the types a certificate needs.
function tlv(tag: number, content: Uint8Array): Buffer {
  const len: number[] = [];
  for (let n = content.length; n > 0; n = Math.floor(n / 256)) len.unshift(n % 256);
  const header = content.length < 0x80 ? [tag, content.length] : [tag, 0x80 | len.length, ...len];
  return Buffer.concat([Buffer.from(header), content]);
}

const seq = (...items: Uint8Array[]): Buffer => tlv(0x30, Buffer.concat(items));
// Only single-element sets are written, so DER's sorting of SET OF never comes into play.
const set = (...items: Uint8Array[]): Buffer => tlv(0x31, Buffer.concat(items));
const bool = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
const octets = (bytes: Uint8Array): Buffer => tlv(0x04, bytes);
const utf8 = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
const bitString = (bytes: Uint8Array, unused = 0): Buffer =>
  tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));
const explicit = (tagNumber: number, inner: Uint8Array): Buffer => tlv(0xa0 | tagNumber, inner);
const implicit = (tagNumber: number, content: Uint8Array): Buffer => tlv(0x80 | tagNumber, content);

/** An unsigned big-endian number as a minimal, positive INTEGER. */
function integer(bytes: Uint8Array): Buffer {
  let body = Buffer.from(bytes);
  while (body.length > 1 && body[0] === 0) body = body.subarray(1);
  // A set top bit would read as negative, so a zero byte goes in front.
  return tlv(0x02, (body[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const septets = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) septets.unshift(0x80 | (v & 0x7f));
    bytes.push(...septets);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050 (and before 1950). */
function time(date: Date): Buffer {
  const digits = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const utc = date.getUTCFullYear() >= 1950 && date.getUTCFullYear() <= 2049;
  return tlv(utc ? 0x17 : 0x18, Buffer.from(`${utc ? digits.slice(2) : digits}Z`, 'ascii'));
}

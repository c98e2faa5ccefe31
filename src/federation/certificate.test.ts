import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import { certificateFingerprint, createSelfSignedCertificate, type TlsKeyPair } from './certificate.js';

const HOUR = 3_600_000;

/** The TLS key pair a 0.1.0 server made at its first start (test/fixtures/home-0.1.0). */
const KEYS_0_1 = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'home-0.1.0', 'keys');
const made01: TlsKeyPair = {
  keyPem: readFileSync(join(KEYS_0_1, 'peer.key'), 'utf8'),
  certPem: readFileSync(join(KEYS_0_1, 'peer.crt'), 'utf8'),
};

/** What a certificate says, by the RFC 5280 schema: everything but its key, serial, dates and signature. */
function profile(certPem: string) {
  const cert = AsnConvert.parse(new X509Certificate(certPem).raw, asn.Certificate);
  const tbs = cert.tbsCertificate;
  const hex = (b: ArrayBuffer) => Buffer.from(b).toString('hex');
  const ski = tbs.extensions?.find((e) => e.extnID === asn.id_ce_subjectKeyIdentifier);
  const skiValue = ski && AsnConvert.parse(ski.extnValue, asn.SubjectKeyIdentifier);
  // RFC 5280 method 1: SHA-1 of the public key's bits.
  const keyId = createHash('sha1')
    .update(Buffer.from(tbs.subjectPublicKeyInfo.subjectPublicKey))
    .digest('hex');
  return {
    version: tbs.version,
    serialBytes: tbs.serialNumber.byteLength <= 16,
    signature: [tbs.signature.algorithm, cert.signatureAlgorithm.algorithm, tbs.signature.parameters],
    // DER, string types included (the test makes ours with 0.1's CN).
    subject: hex(AsnConvert.serialize(tbs.subject)),
    sameIssuer: hex(AsnConvert.serialize(tbs.issuer)) === hex(AsnConvert.serialize(tbs.subject)),
    key: [
      tbs.subjectPublicKeyInfo.algorithm.algorithm,
      hex(tbs.subjectPublicKeyInfo.algorithm.parameters ?? new ArrayBuffer(0)),
    ],
    validity: [tbs.validity.notBefore, tbs.validity.notAfter].map((t) =>
      t.utcTime ? 'UTCTime' : 'GeneralizedTime',
    ),
    extensions: (tbs.extensions ?? []).map((e) => [
      e.extnID,
      e.critical,
      e.extnID === asn.id_ce_subjectKeyIdentifier ? 'key id' : hex(e.extnValue.buffer),
    ]),
    keyIdIsMethod1: skiValue !== undefined && Buffer.from(skiValue.buffer).toString('hex') === keyId,
  };
}

interface Handshake {
  clientAuthorized: boolean | undefined;
  clientError: Error | undefined;
  serverAuthorized: boolean | undefined;
  serverSawFingerprint: string | undefined;
  /** Why the server dropped the client (tls.TLSSocket.authorizationError), if it did. */
  serverRejection: string | undefined;
  clientReceived: string;
}

/** Runs one real mutual-TLS connection over loopback, each side trusting only the other's certificate. */
async function handshake(server: TlsKeyPair, client: TlsKeyPair, trustedClient = client): Promise<Handshake> {
  const result: Handshake = {
    clientAuthorized: undefined,
    clientError: undefined,
    serverAuthorized: undefined,
    serverSawFingerprint: undefined,
    serverRejection: undefined,
    clientReceived: '',
  };
  const srv = tls.createServer({
    key: server.keyPem,
    cert: server.certPem,
    ca: [trustedClient.certPem],
    requestCert: true,
    rejectUnauthorized: true,
  });
  const serverDone = new Promise<void>((resolve) => {
    srv.on('secureConnection', (socket) => {
      result.serverAuthorized = socket.authorized;
      result.serverSawFingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end('ok');
      resolve();
    });
    // Node drops a rejected client without an alert, so the reason is only on the server's socket.
    srv.on('tlsClientError', (_err, socket) => {
      result.serverRejection = String(socket.authorizationError);
      resolve();
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  const clientDone = new Promise<void>((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      key: client.keyPem,
      cert: client.certPem,
      ca: [server.certPem],
      checkServerIdentity: () => undefined,
    });
    socket.on('secureConnect', () => {
      result.clientAuthorized = socket.authorized;
    });
    socket.on('error', (err) => {
      result.clientError = err;
    });
    socket.on('data', (chunk: Buffer) => {
      result.clientReceived += chunk.toString();
    });
    socket.on('close', () => resolve());
  });
  await Promise.all([serverDone, clientDone]);
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return result;
}

describe('createSelfSignedCertificate', () => {
  it('makes a certificate Node parses, with the subject, validity and names asked for', () => {
    const notBefore = new Date('2024-05-01T12:00:00.789Z');
    const notAfter = new Date('2034-05-01T12:00:00Z');
    const { certPem, keyPem } = createSelfSignedCertificate({
      commonName: 'cluster-hq',
      notBefore,
      notAfter,
      dnsNames: ['hq.example.com', 'localhost'],
      ipAddresses: ['127.0.0.1', '::1', '2001:db8::8:800:200c:417a'],
    });
    const cert = new X509Certificate(certPem);
    expect(cert.subject).toBe('CN=cluster-hq');
    expect(cert.issuer).toBe('CN=cluster-hq');
    expect(new Date(cert.validFrom).getTime()).toBe(Math.floor(notBefore.getTime() / 1000) * 1000);
    expect(new Date(cert.validTo).getTime()).toBe(notAfter.getTime());
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.ca).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(cert.fingerprint256).toBe(certificateFingerprint(certPem));
    expect(cert.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(cert.subjectAltName).toBe(
      'DNS:hq.example.com, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, ' +
        'IP Address:2001:DB8:0:0:8:800:200C:417A',
    );
  });

  it('defaults to a validity from an hour ago to twenty years on, without SAN', () => {
    const before = Date.now();
    const cert = new X509Certificate(createSelfSignedCertificate({ commonName: 'edge' }).certPem);
    const from = new Date(cert.validFrom).getTime();
    expect(from).toBeGreaterThanOrEqual(Math.floor((before - HOUR) / 1000) * 1000);
    expect(from).toBeLessThanOrEqual(Date.now() - HOUR);
    const to = new Date(cert.validTo);
    expect(to.getUTCFullYear() - new Date(from).getUTCFullYear()).toBe(20);
    expect(cert.subjectAltName).toBeUndefined();
  });

  it('gives every certificate its own key and serial', () => {
    const a = new X509Certificate(createSelfSignedCertificate({ commonName: 'a' }).certPem);
    const b = new X509Certificate(createSelfSignedCertificate({ commonName: 'a' }).certPem);
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.fingerprint256).not.toBe(b.fingerprint256);
  });

  it('writes dates after 2049 as GeneralizedTime, which still parse', () => {
    const notBefore = new Date('2049-12-31T23:59:59Z');
    const notAfter = new Date('2070-06-15T08:30:00Z');
    const { certPem } = createSelfSignedCertificate({ commonName: 'far', notBefore, notAfter });
    const cert = new X509Certificate(certPem);
    expect(new Date(cert.validFrom).getTime()).toBe(notBefore.getTime());
    expect(new Date(cert.validTo).getTime()).toBe(notAfter.getTime());
    const der = cert.raw;
    expect(der.includes(Buffer.from('\x17\x0d491231235959Z', 'latin1'))).toBe(true);
    expect(der.includes(Buffer.from('\x18\x0f20700615083000Z', 'latin1'))).toBe(true);
  });

  it('accepts a non-ASCII common name up to 64 characters', () => {
    const name = 'ü'.repeat(64);
    const cert = new X509Certificate(createSelfSignedCertificate({ commonName: name }).certPem);
    expect(cert.subject).toBe(`CN=${name}`);
  });

  it('rejects bad input with INVALID_ARGUMENT', () => {
    const bad: Array<Parameters<typeof createSelfSignedCertificate>[0]> = [
      { commonName: '' },
      { commonName: '   ' },
      { commonName: 'x'.repeat(65) },
      { commonName: 'a\nb' },
      { commonName: 'ok', notBefore: new Date('2030-01-01Z'), notAfter: new Date('2030-01-01Z') },
      { commonName: 'ok', notBefore: new Date('2030-01-01Z'), notAfter: new Date('2029-01-01Z') },
      { commonName: 'ok', notAfter: new Date(Number.NaN) },
      { commonName: 'ok', dnsNames: ['not a name'] },
      { commonName: 'ok', ipAddresses: ['999.1.1.1'] },
      { commonName: 'ok', ipAddresses: ['fe80::1%eth0'] },
    ];
    for (const opts of bad) {
      let caught: unknown;
      try {
        createSelfSignedCertificate(opts);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(opts)).toBeInstanceOf(IngotError);
      expect((caught as IngotError).code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('certificates of release 0.1', () => {
  it('have the profile of ours, extension for extension', () => {
    const ours = profile(createSelfSignedCertificate({ commonName: 'OLDREL' }).certPem);
    expect(ours).toEqual(profile(made01.certPem));
    expect(ours.keyIdIsMethod1).toBe(true);
    expect(ours.extensions.map(([id]) => id)).toEqual([
      asn.id_ce_basicConstraints,
      asn.id_ce_keyUsage,
      asn.id_ce_extKeyUsage,
      asn.id_ce_subjectKeyIdentifier,
    ]);
  });

  it('and ours take each other in mutual TLS, either side listening', async () => {
    const ours = createSelfSignedCertificate({ commonName: 'NEWREL' });
    for (const [server, client] of [
      [made01, ours],
      [ours, made01],
    ] as const) {
      const r = await handshake(server, client);
      expect(r.clientError).toBeUndefined();
      expect(r.serverRejection).toBeUndefined();
      expect([r.clientAuthorized, r.serverAuthorized]).toEqual([true, true]);
      expect(r.serverSawFingerprint).toBe(certificateFingerprint(client.certPem));
      expect(r.clientReceived).toBe('ok');
    }
  });
});

describe('certificateFingerprint', () => {
  it('rejects text that is not a certificate', () => {
    expect(() => certificateFingerprint('nope')).toThrow(IngotError);
  });
});

describe('mutual TLS with pinned self-signed certificates', () => {
  const server = createSelfSignedCertificate({ commonName: 'server-a', ipAddresses: ['127.0.0.1'] });
  const client = createSelfSignedCertificate({ commonName: 'server-b' });

  it('connects when each side trusts exactly the other certificate', async () => {
    const r = await handshake(server, client);
    expect(r.clientError).toBeUndefined();
    expect(r.serverRejection).toBeUndefined();
    expect(r.clientAuthorized).toBe(true);
    expect(r.serverAuthorized).toBe(true);
    expect(r.serverSawFingerprint).toBe(certificateFingerprint(client.certPem));
    expect(r.clientReceived).toBe('ok');
  });

  it('refuses a client whose certificate the server does not pin', async () => {
    const stranger = createSelfSignedCertificate({ commonName: 'server-b' });
    const r = await handshake(server, stranger, client);
    expect(r.serverAuthorized).toBeUndefined();
    expect(r.serverRejection).toMatch(/SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    expect(r.clientReceived).toBe('');
  });

  it('refuses an expired client certificate even when it is pinned', async () => {
    const expired = createSelfSignedCertificate({
      commonName: 'server-b',
      notBefore: new Date(Date.now() - 48 * HOUR),
      notAfter: new Date(Date.now() - 24 * HOUR),
    });
    const r = await handshake(server, expired);
    expect(r.serverAuthorized).toBeUndefined();
    expect(r.serverRejection).toBe('CERT_HAS_EXPIRED');
    expect(r.clientReceived).toBe('');
  });

  it('makes the client refuse an expired server certificate with CERT_HAS_EXPIRED', async () => {
    const expired = createSelfSignedCertificate({
      commonName: 'server-a',
      notBefore: new Date(Date.now() - 48 * HOUR),
      notAfter: new Date(Date.now() - 24 * HOUR),
    });
    const r = await handshake(expired, client);
    expect(r.clientAuthorized).toBeUndefined();
    expect((r.clientError as NodeJS.ErrnoException | undefined)?.code).toBe('CERT_HAS_EXPIRED');
    expect(r.clientReceived).toBe('');
  });
});

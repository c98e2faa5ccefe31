import { X509Certificate } from 'node:crypto';
import { connect, type PeerCertificate } from 'node:tls';
import { IngotError } from '../core/errors.js';
import {
  CERTIFICATE_ERRORS,
  describeTlsError,
  EXPIRED_CERTIFICATE_ERRORS,
  tlsErrorCode,
} from '../transfer/tls-errors.js';
import type { TlsIdentity } from './tls-identity.js';
import type { PeerRecord } from './types.js';

/**
 * Why a peer could not be reached, told apart from "it is down": the mutual-TLS handshake
 * fails one of two ways when trust is broken, and neither says so by itself.
 *
 * - The peer shows another certificate than the one pinned for it: our side refuses the
 *   handshake with a certificate error (the pinned certificate is the only CA, and the
 *   fingerprint is checked again by `checkServerIdentity`).
 * - The peer does not trust our certificate (it never registered this server, or
 *   unregistered it): under TLS 1.3 our side finishes the handshake first, then the peer
 *   closes the connection without a byte, which looks like any cut connection. So on a
 *   cut connection one probe dials again and asks `/peer/v1/hello`: a connection closed
 *   after the handshake with nothing read is a peer that refused our certificate; an answer
 *   (or no connection at all) leaves the failure what it was.
 * - A certificate outside its dates (a clock set wrong on one side) is CERTIFICATE_NOT_VALID,
 *   naming the date: the peer's, when our check refuses it; ours, when the peer refuses it
 *   and our own clock says it is outside its dates.
 */

/** The error of a certificate that is not the pinned one, as `checkServerIdentity` returns it. */
export function wrongCertificate(peer: PeerRecord, cert: PeerCertificate): Error | undefined {
  if (cert.fingerprint256 === peer.certFingerprint) return undefined;
  return Object.assign(new Error(`the peer showed certificate ${cert.fingerprint256}`), {
    code: 'ERR_PEER_CERT_MISMATCH',
  });
}

/** The error a failed call to `peer` at `base` should end as. */
export async function peerUnreachable(
  peer: PeerRecord,
  tls: TlsIdentity,
  base: string,
  err: unknown,
): Promise<IngotError> {
  const code = tlsErrorCode(err);
  if (code && CERTIFICATE_ERRORS.has(code)) {
    return new IngotError(
      'PEER_UNTRUSTED',
      `the peer's certificate is not the one registered for ${peer.name}`,
      {
        hint: `${base} showed another certificate (${describeTlsError(err)}); if ${peer.name} was rebuilt, register its new server-data file: \`ingot unregister server --server ${peer.name}\`, then \`ingot register server\``,
        details: { peer: peer.name, endpoint: base, tls: code },
        cause: err,
      },
    );
  }
  if (code && EXPIRED_CERTIFICATE_ERRORS.has(code)) {
    return new IngotError(
      'CERTIFICATE_NOT_VALID',
      `the certificate of ${peer.name} ${outsideDates(peer.certPem)}`,
      {
        hint: `check the clocks of both hosts (this one says ${nowIso()}); if ${peer.name} renewed its certificate, register its new server-data file`,
        details: { peer: peer.name, endpoint: base, tls: code },
        cause: err,
      },
    );
  }
  if (code === 'UND_ERR_SOCKET' && (await refusesOurCertificate(peer, tls, base))) {
    // A certificate outside its dates by our own clock is refused by any peer: say that.
    const ours = new X509Certificate(tls.certPem);
    if (!withinDates(ours)) {
      return new IngotError(
        'CERTIFICATE_NOT_VALID',
        `${peer.name} refuses this server's certificate, which ${outsideDates(tls.certPem)}`,
        {
          hint: `check this host's clock (it says ${nowIso()}); the certificate is valid from ${iso(ours.validFromDate)} to ${iso(ours.validToDate)}`,
          details: { peer: peer.name, endpoint: base },
          cause: err,
        },
      );
    }
    return new IngotError('PEER_UNTRUSTED', `${peer.name} does not trust this server's certificate`, {
      hint: `${peer.name} closed the connection after the TLS handshake: on ${peer.name}, register this server's server-data file (\`ingot export server\` here, \`ingot register server\` there); or its clock is outside this server's certificate dates (${iso(ours.validFromDate)} to ${iso(ours.validToDate)})`,
      details: { peer: peer.name, endpoint: base },
      cause: err,
    });
  }
  return new IngotError(
    'UNAVAILABLE',
    `cannot reach peer ${peer.name} at ${base} (${describeTlsError(err)})`,
    {
      hint: 'check that it runs and still trusts this server (`ingot query peerserver` on both sides)',
      cause: err,
    },
  );
}

/** "is not valid until T" or "expired at T", by this host's clock. */
export function outsideDates(certPem: string, now = new Date()): string {
  const cert = new X509Certificate(certPem);
  if (now < cert.validFromDate) return `is not valid until ${iso(cert.validFromDate)}`;
  if (now > cert.validToDate) return `expired at ${iso(cert.validToDate)}`;
  return `is valid from ${iso(cert.validFromDate)} to ${iso(cert.validToDate)}`;
}

function withinDates(cert: X509Certificate, now = new Date()): boolean {
  return now >= cert.validFromDate && now <= cert.validToDate;
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const nowIso = () => iso(new Date());

/** Dials once and asks for hello: true when the peer closes after the handshake without a byte. */
function refusesOurCertificate(peer: PeerRecord, tls: TlsIdentity, base: string): Promise<boolean> {
  const url = new URL(base);
  return new Promise((resolve) => {
    let secured = false;
    let answered = false;
    const socket = connect({
      host: url.hostname,
      port: Number(url.port || 443),
      key: tls.keyPem,
      cert: tls.certPem,
      ca: [peer.certPem],
      minVersion: 'TLSv1.3',
      checkServerIdentity: (_host, cert) => wrongCertificate(peer, cert),
    });
    socket.setTimeout(10_000, () => socket.destroy());
    socket.once('secureConnect', () => {
      secured = true;
      socket.end(`GET /peer/v1/hello HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', () => {
      answered = true;
      socket.destroy();
    });
    socket.on('error', () => {});
    socket.once('close', () => resolve(secured && !answered));
  });
}

import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { ServerConfig } from '../config/server-config.js';
import { isDnsName } from '../federation/certificate.js';
import {
  type AltNames,
  loadOrCreateTlsIdentity,
  loadTlsIdentity,
  type TlsIdentity,
} from '../federation/tls-identity.js';

/**
 * The certificate the REST API shows with `ingot serve --tls`: the operator's pair, or a
 * self-signed one made at the first start with TLS and kept in keys/api.* (a local CLI pins
 * it by the fingerprint in server.json; another host by `--pin` or `--cacert`).
 */
export async function apiTlsIdentity(config: ServerConfig): Promise<TlsIdentity | undefined> {
  const tls = config.apiTls;
  if (tls.kind === 'off') return undefined;
  if (tls.kind === 'given') return loadTlsIdentity(tls.keyFile, tls.certFile);
  return loadOrCreateTlsIdentity(
    config.paths.apiKey,
    config.paths.apiCert,
    config.clusterName,
    apiAltNames(config.listenHost),
  );
}

/**
 * The names a client may dial the API by: the listen host (or, listening on every
 * address, this host's addresses), localhost, the loopback addresses and the host name.
 */
export function apiAltNames(listenHost: string, host = hostname()): AltNames {
  const ips = new Set(['127.0.0.1', '::1']);
  const dns = new Set(['localhost']);
  if (isWildcard(listenHost)) {
    for (const a of Object.values(networkInterfaces()).flat()) {
      if (a && !a.internal && !a.address.includes('%')) ips.add(a.address);
    }
  } else if (isIP(listenHost)) {
    ips.add(listenHost);
  } else if (isDnsName(listenHost)) {
    dns.add(listenHost);
  }
  if (isDnsName(host)) dns.add(host);
  return { dnsNames: [...dns], ipAddresses: [...ips] };
}

/**
 * What a client checking the certificate by a CA (`--cacert`) would refuse, said at start:
 * a certificate outside its dates, or one that does not name the listen host (the
 * self-signed one keeps the names of its first start; remove keys/api.* for new ones).
 */
export function certificateWarnings(identity: TlsIdentity, listenHost: string, now = new Date()): string[] {
  const cert = new X509Certificate(identity.certPem);
  const warnings: string[] = [];
  if (now < cert.validFromDate || now > cert.validToDate) {
    warnings.push(`the REST API certificate is valid from ${cert.validFrom} to ${cert.validTo} only`);
  }
  const named = isIP(listenHost) ? cert.checkIP(listenHost) : cert.checkHost(listenHost);
  if (!isWildcard(listenHost) && !named) {
    warnings.push(
      `the REST API certificate does not name ${listenHost}: a client with --cacert must dial a name it has (a --pin works)`,
    );
  }
  return warnings;
}

/** Whether only this host can reach an API listening on `host`. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/**
 * A server's addresses once it listens, and what it says then: its URLs, the warnings about
 * how it listens (a certificate that will not match, tokens in clear beyond this host), and
 * the start line with what it found (crash recovery, stale temp files, jobs it resumed).
 */
import type { Server } from 'node:net';
import type pino from 'pino';
import { redact } from '../db/database.js';
import type { TlsIdentity } from '../federation/tls-identity.js';
import type { RecoveryReport } from '../store/pack-recovery.js';
import { certificateWarnings, isLoopback } from './api-tls.js';

export function portOf(address: ReturnType<Server['address']>, fallback: number): number {
  return typeof address === 'object' && address ? address.port : fallback;
}

export function urlOf(scheme: 'http' | 'https', listenHost: string, port: number): string {
  const host = listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  return `${scheme}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
}

export function announce(
  logger: pino.Logger,
  s: {
    readonly url: string;
    readonly peerUrl: string;
    readonly apiTls: (TlsIdentity & { readonly fingerprint: string }) | undefined;
    readonly listenHost: string;
    readonly home: string;
    readonly db: string;
    readonly recovery: RecoveryReport | undefined;
    readonly staleTemp: number;
    readonly resumed: number;
  },
): void {
  const fingerprint = s.apiTls?.fingerprint;
  for (const warning of s.apiTls ? certificateWarnings(s.apiTls, s.listenHost) : []) {
    logger.warn({ listen: s.listenHost, fingerprint }, warning);
  }
  if (!s.apiTls && !isLoopback(s.listenHost)) {
    logger.warn(
      { listen: s.listenHost },
      'the REST API listens on plain http beyond this host: tokens cross the network in clear; start with --tls',
    );
  }
  logger.info(
    {
      url: s.url,
      peerUrl: s.peerUrl,
      ...(fingerprint ? { fingerprint } : {}),
      home: s.home,
      db: redact(s.db),
      recovery: s.recovery,
      staleTemp: s.staleTemp,
      resumed: s.resumed,
    },
    'ingot server listening',
  );
}

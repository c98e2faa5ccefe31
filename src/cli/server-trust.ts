import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { IngotError } from '../core/errors.js';
import { unreachable } from '../transfer/http-client.js';
import { CERTIFICATE_ERRORS, EXPIRED_CERTIFICATE_ERRORS, tlsErrorCode } from '../transfer/tls-errors.js';

/**
 * What the CLI trusts in its server's https certificate, and the error when it is not that:
 *
 * - a pinned SHA-256 fingerprint (`--pin`, INGOT_PIN, or the one the server of this
 *   INGOT_HOME wrote into server.json): the certificate shown must be exactly that one,
 *   checked once the handshake ends and before any byte (a token) is sent; names, dates and
 *   CAs play no part, since the pin is the trust;
 * - a CA or the server's own certificate (`--cacert`, INGOT_CACERT): checked as TLS does,
 *   names and dates included, against that file only;
 * - neither: the system's CAs, as any https client.
 *
 * A certificate that fails is SERVER_UNTRUSTED, never a raw TLS error.
 */
export interface ServerTrust {
  readonly pin?: string;
  /** Where the pin came from, for the hint. */
  readonly pinFrom?: 'server.json' | '--pin';
  readonly ca?: { readonly file: string; readonly pem: string };
}

export interface TrustOptions {
  readonly pin?: string | undefined;
  readonly cacert?: string | undefined;
}

/** The server of this INGOT_HOME, as its server.json says. */
export interface LocalServer {
  readonly url: string;
  readonly fingerprint?: string | undefined;
}

/** The trust for `url`: undefined for plain http, where there is nothing to check. */
export async function serverTrust(
  url: string,
  given: TrustOptions,
  local: LocalServer | undefined,
): Promise<ServerTrust | undefined> {
  const https = new URL(url).protocol === 'https:';
  if (!https) {
    if (given.pin === undefined && given.cacert === undefined) return undefined;
    throw new IngotError('INVALID_ARGUMENT', `--pin and --cacert apply to https URLs, not ${url}`, {
      hint: 'use the https:// URL of a server started with `ingot serve --tls`, or drop --pin/--cacert (INGOT_PIN, INGOT_CACERT)',
    });
  }
  const ca = given.cacert === undefined ? undefined : { file: given.cacert, pem: await readCa(given.cacert) };
  if (given.pin !== undefined)
    return { pin: normalizePin(given.pin), pinFrom: '--pin', ...(ca ? { ca } : {}) };
  if (ca) return { ca };
  if (local?.fingerprint && sameOrigin(local.url, url)) {
    return { pin: normalizePin(local.fingerprint), pinFrom: 'server.json' };
  }
  return {};
}

/** `AB:CD:…` (as `ingot serve` prints it), lower case, without colons, or after `sha256:`. */
export function normalizePin(value: string): string {
  const hex = value
    .trim()
    .replace(/^sha256[:/=]/i, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new IngotError('INVALID_ARGUMENT', `invalid certificate pin ${JSON.stringify(value)}`, {
      hint: "the SHA-256 fingerprint of the server's certificate: 32 hex pairs, e.g. as `ingot serve --tls` prints it",
    });
  }
  return (hex.match(/../g) as string[]).join(':');
}

/** Connections that check the certificate as `trust` says before undici sends anything. */
export function trustingAgent(trust: ServerTrust): Dispatcher {
  const connector = buildConnector({
    ...(trust.ca ? { ca: [trust.ca.pem] } : {}),
    // With a pin alone, the pin is the check (below), not a CA chain.
    rejectUnauthorized: trust.pin === undefined || trust.ca !== undefined,
    // A resumed TLS session shows no certificate to check: every connection does a full handshake.
    maxCachedSessions: 0,
  });
  return new Agent({
    connections: 16,
    bodyTimeout: 0,
    headersTimeout: 0,
    connect: (opts, callback) =>
      connector(opts, (err, socket) => {
        if (err || !socket) return callback(err ?? new Error('no socket'), null);
        const shown = (socket as TLSSocket).getPeerCertificate?.()?.fingerprint256;
        if (trust.pin !== undefined && shown !== trust.pin) {
          socket.destroy();
          return callback(
            Object.assign(new Error('pinned certificate mismatch'), { code: PIN_MISMATCH, shown }),
            null,
          );
        }
        callback(null, socket);
      }),
  });
}

/** The error a failed call to `base` ends as, with trust broken told apart from "it is down". */
export function trustError(trust: ServerTrust): (base: string, err: unknown) => IngotError {
  return (base, err) => {
    const code = tlsErrorCode(err);
    if (code === PIN_MISMATCH) {
      const shown = (err as { shown?: string }).shown ?? 'none';
      return new IngotError(
        'SERVER_UNTRUSTED',
        `the server at ${base} showed another certificate than the pinned one`,
        {
          hint:
            trust.pinFrom === 'server.json'
              ? "server.json of this INGOT_HOME names another certificate than this URL shows: check that --url / INGOT_SERVER is this home's server, or restart it"
              : "check --pin (INGOT_PIN) against the fingerprint `ingot serve --tls` prints, or the server's certificate changed",
          details: { url: base, pinned: trust.pin, shown },
          cause: err,
        },
      );
    }
    if (code && (CERTIFICATE_ERRORS.has(code) || EXPIRED_CERTIFICATE_ERRORS.has(code))) {
      const against = trust.ca ? trust.ca.file : "the system's CAs";
      return new IngotError(
        'SERVER_UNTRUSTED',
        `the certificate of ${base} does not check against ${against} (${code})`,
        {
          hint: trust.ca
            ? "give the server's certificate (its keys/api.crt) or the CA that issued it to --cacert, and a URL whose host it names; or --pin SHA256"
            : "trust it with --cacert FILE (the server's keys/api.crt, or its CA) or --pin SHA256 (INGOT_CACERT, INGOT_PIN)",
          details: { url: base, tls: code },
          cause: err,
        },
      );
    }
    return unreachable(base, err);
  };
}

const PIN_MISMATCH = 'ERR_INGOT_PIN_MISMATCH';

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

async function readCa(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new IngotError(
      'PATH_NOT_FOUND',
      `cannot read --cacert ${file} (${(err as NodeJS.ErrnoException).code})`,
      {
        cause: err,
      },
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new IngotError('INVALID_ARGUMENT', `--cacert ${file} holds no PEM certificate`, {
      hint: "give the server's certificate or its CA in PEM (-----BEGIN CERTIFICATE-----)",
    });
  }
  return pem;
}

import { readFile } from 'node:fs/promises';
import { resolveHome } from '../config/home.js';
import { IngotError } from '../core/errors.js';
import { homePaths } from '../store/paths.js';
import { type ApiClient, createHttpClient } from '../transfer/http-client.js';
import { serverTrust, trustError, trustingAgent } from './server-trust.js';

/** Options every command that talks to a server accepts. */
export interface GlobalOptions {
  url?: string;
  token?: string;
  /** A CA or the server's certificate (PEM file) to check an https server against. */
  cacert?: string;
  /** The SHA-256 fingerprint the https server's certificate must have. */
  pin?: string;
  json?: boolean;
}

/**
 * Finds the server and token: flags first, then INGOT_SERVER / INGOT_TOKEN, then the
 * running server of this INGOT_HOME (server.json and token files), so a local CLI needs
 * no flags at all. An https server is trusted by --pin / INGOT_PIN, --cacert /
 * INGOT_CACERT, or, for this home's server, the fingerprint in server.json (server-trust.ts).
 */
export async function connect(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
  const paths = homePaths(resolveHome(env));
  const info = await readServerInfo(paths.serverInfo);
  const url = opts.url ?? env.INGOT_SERVER ?? localServerUrl(info, paths.serverInfo);
  const token = opts.token ?? env.INGOT_TOKEN ?? (await readOptional(paths.token))?.trim();
  const trust = await serverTrust(
    url,
    { pin: opts.pin ?? nonEmpty(env.INGOT_PIN), cacert: opts.cacert ?? nonEmpty(env.INGOT_CACERT) },
    info,
  );
  if (!trust) return createHttpClient(url, { token });
  return createHttpClient(url, { token, dispatcher: trustingAgent(trust), unreachable: trustError(trust) });
}

const nonEmpty = (value: string | undefined) => (value?.trim() ? value.trim() : undefined);

/**
 * Whether `baseUrl` is the server of this INGOT_HOME on this host: a loopback URL that its
 * server.json names, written by a process that still runs. Only then does the server see
 * the paths this CLI sees; a loopback URL alone may be a tunnel to another host.
 */
export async function isOwnServer(baseUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const info = await readServerInfo(homePaths(resolveHome(env)).serverInfo);
  if (!info || typeof info.pid !== 'number') return false;
  const a = new URL(baseUrl);
  const b = new URL(info.url);
  if (a.host !== b.host || !LOOPBACK.has(a.hostname)) return false;
  try {
    process.kill(info.pid, 0);
    return true;
  } catch (err) {
    // Alive but another user's: the server runs as its own user, which is fine.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

interface ServerInfo {
  readonly url: string;
  readonly pid?: unknown;
  /** The REST API certificate's SHA-256 fingerprint, when it serves https. */
  readonly fingerprint?: string;
}

async function readServerInfo(serverInfo: string): Promise<ServerInfo | undefined> {
  const text = await readOptional(serverInfo);
  if (!text) return undefined;
  try {
    const info = JSON.parse(text) as { url?: unknown; pid?: unknown; fingerprint?: unknown };
    if (typeof info.url === 'string') {
      return {
        url: info.url,
        pid: info.pid,
        ...(typeof info.fingerprint === 'string' ? { fingerprint: info.fingerprint } : {}),
      };
    }
  } catch {
    // unreadable: as if absent
  }
  return undefined;
}

function localServerUrl(info: ServerInfo | undefined, serverInfo: string): string {
  if (info) return info.url;
  throw new IngotError(
    'UNAVAILABLE',
    `no running Ingot server found for this INGOT_HOME (${serverInfo} is missing)`,
    {
      hint: 'start one with `ingot serve`, or use --url URL --token T (or INGOT_SERVER, INGOT_TOKEN)',
    },
  );
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

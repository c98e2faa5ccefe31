import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { IngotError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import { type HomePaths, homePaths } from '../store/paths.js';
import { parseStoreLocation, type StoreLocation } from './store-location.js';

/**
 * One schema with defaults for a server: loaded and validated once at start, then frozen.
 * The cluster name is fixed at first start (peers know a server by it) and kept in
 * config.json; listen address and database may change between starts.
 */
export interface ServerConfig {
  readonly paths: HomePaths;
  readonly clusterName: string;
  readonly listenHost: string;
  readonly listenPort: number;
  /** Whether the REST API listens on https, and with which certificate. */
  readonly apiTls: ApiTls;
  /** The peer API (mutual TLS). */
  readonly peerHost: string;
  readonly peerPort: number;
  /** The peer API URL other servers should dial, written into the server-data file. */
  readonly advertise: string | undefined;
  /** `sqlite:/path` or `postgres://...`. */
  readonly dbUrl: string;
  /** Where chunks and manifests live: local (default), a shared directory, or S3. */
  readonly store: StoreLocation;
  readonly logLevel: string;
  /** Chunks younger than this are never collected, so a running ingest keeps what it uploaded. */
  readonly gcGraceSeconds: number;
  readonly token: string;
  /** Whether /metrics answers without a token (`--metrics open`, the default) or needs one. */
  readonly metrics: MetricsAccess;
  /** Audit rows older than this many days are dropped (hourly); 0 keeps them for ever. */
  readonly auditDays: number;
  /** Ended jobs and transfer records older than this many days are dropped; 0 keeps them. */
  readonly historyDays: number;
}

export type MetricsAccess = 'open' | 'token';

/**
 * The REST API over plain http (the default), over https with a self-signed certificate
 * made at first start under INGOT_HOME, or over https with a certificate and key given as files.
 */
export type ApiTls =
  | { readonly kind: 'off' }
  | { readonly kind: 'self-signed' }
  | { readonly kind: 'given'; readonly certFile: string; readonly keyFile: string };

export interface ServeOptions {
  readonly home: string;
  readonly name?: string;
  readonly listen?: string;
  readonly peerListen?: string;
  readonly advertise?: string;
  readonly db?: string;
  /** `--store DIR|s3://...`. */
  readonly store?: string;
  readonly logLevel?: string;
  readonly metrics?: string;
  /** `--audit-days N`. */
  readonly auditDays?: string;
  /** `--history-days N`. */
  readonly historyDays?: string;
  /** `--tls`; `--tls-cert` and `--tls-key` imply it. */
  readonly tls?: boolean;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

export interface StoredConfig {
  clusterName: string;
  createdAt: string;
  dbUrl?: string;
  /** `"store": "/mnt/shared/ingot"` or `"s3://..."`; --store and INGOT_STORE override it. */
  store?: string;
  /** Addresses kept by `import snapshot --listen/--peer-listen/--advertise`; flags override them. */
  listen?: string;
  peerListen?: string;
  advertise?: string;
  /** `"metrics": "token"` in config.json puts /metrics behind a token; --metrics overrides it. */
  metrics?: string;
  /** `"auditDays": N`; --audit-days and INGOT_AUDIT_DAYS override it. */
  auditDays?: number;
  /** `"historyDays": N`; --history-days and INGOT_HISTORY_DAYS override it. */
  historyDays?: number;
  /** `"tls": true` (and `"tlsCert"`, `"tlsKey"`, paths relative to INGOT_HOME); flags and INGOT_TLS* override. */
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

export const DEFAULT_LISTEN = '127.0.0.1:7480';
export const DEFAULT_PEER_LISTEN = '127.0.0.1:7481';
export const DEFAULT_GC_GRACE_SECONDS = 15 * 60;
export const DEFAULT_AUDIT_DAYS = 365;
export const DEFAULT_HISTORY_DAYS = 90;

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new IngotError('INVALID_ARGUMENT', `invalid listen address ${JSON.stringify(value)}`, {
      hint: 'use HOST:PORT, e.g. 127.0.0.1:7480 or 0.0.0.0:7480 (port 0 picks a free port)',
    });
  }
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

export function parseAdvertise(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'https:' && url.pathname === '/' && !url.search && !url.username) return url.origin;
  } catch {
    // fall through to the error
  }
  throw new IngotError('INVALID_ARGUMENT', `invalid --advertise URL ${JSON.stringify(value)}`, {
    hint: 'the https URL peers dial for the peer API, e.g. https://fpps1.example.com:7481',
  });
}

export async function loadServerConfig(
  opts: ServeOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerConfig> {
  const paths = homePaths(opts.home);
  const given = opts.store ?? env.INGOT_STORE;
  // A bad flag stops the start before anything is written.
  if (given !== undefined) parseStoreLocation(given, paths.home);
  await mkdir(paths.home, { recursive: true, mode: 0o700 });
  const stored = await loadOrCreateStored(paths, opts.name);
  const store = parseStoreLocation(given ?? stored.store, paths.home);
  const { host, port } = parseListen(opts.listen ?? stored.listen ?? DEFAULT_LISTEN);
  const peer = parseListen(opts.peerListen ?? stored.peerListen ?? DEFAULT_PEER_LISTEN);
  const advertised = opts.advertise ?? stored.advertise;
  const advertise = advertised === undefined ? undefined : parseAdvertise(advertised);
  const dbUrl = opts.db ?? stored.dbUrl ?? `sqlite:${paths.sqlite}`;
  const token = await loadOrCreateToken(paths.token);
  const metrics = parseMetricsAccess(opts.metrics ?? stored.metrics ?? 'open');
  const apiTls = resolveApiTls(opts, env, stored, paths.home);
  const auditDays = parseDays(
    'audit-days',
    opts.auditDays ?? env.INGOT_AUDIT_DAYS?.trim() ?? stored.auditDays,
    DEFAULT_AUDIT_DAYS,
  );
  const historyDays = parseDays(
    'history-days',
    opts.historyDays ?? env.INGOT_HISTORY_DAYS?.trim() ?? stored.historyDays,
    DEFAULT_HISTORY_DAYS,
  );
  return Object.freeze({
    paths,
    clusterName: stored.clusterName,
    listenHost: host,
    listenPort: port,
    apiTls,
    peerHost: peer.host,
    peerPort: peer.port,
    advertise,
    dbUrl,
    store,
    logLevel: opts.logLevel ?? env.INGOT_LOG_LEVEL ?? 'info',
    gcGraceSeconds: DEFAULT_GC_GRACE_SECONDS,
    token,
    metrics,
    auditDays,
    historyDays,
  });
}

/**
 * Flags first, then INGOT_TLS / INGOT_TLS_CERT / INGOT_TLS_KEY, then config.json. A
 * certificate implies https; a certificate without its key (or the other way round), or
 * one given while https is turned off, is refused rather than half applied.
 */
function resolveApiTls(
  opts: ServeOptions,
  env: NodeJS.ProcessEnv,
  stored: StoredConfig,
  home: string,
): ApiTls {
  const fromEnv = (name: string) => (env[name]?.trim() ? resolve(env[name].trim()) : undefined);
  const fromStored = (value: string | undefined) => (value ? resolve(home, value) : undefined);
  const certFile = opts.tlsCert ?? fromEnv('INGOT_TLS_CERT') ?? fromStored(stored.tlsCert);
  const keyFile = opts.tlsKey ?? fromEnv('INGOT_TLS_KEY') ?? fromStored(stored.tlsKey);
  if (stored.tls !== undefined && typeof stored.tls !== 'boolean') {
    throw new IngotError('INVALID_ARGUMENT', `invalid "tls" in config.json: ${JSON.stringify(stored.tls)}`, {
      hint: 'use "tls": true or "tls": false',
    });
  }
  const on = opts.tls ?? parseSwitch('INGOT_TLS', env.INGOT_TLS) ?? stored.tls;
  if (certFile === undefined && keyFile === undefined) return on ? { kind: 'self-signed' } : { kind: 'off' };
  if (certFile === undefined || keyFile === undefined) {
    throw new IngotError(
      'INVALID_ARGUMENT',
      `a TLS ${certFile ? 'certificate' : 'key'} was given without its ${certFile ? 'key' : 'certificate'}`,
      {
        hint: 'give both --tls-cert FILE and --tls-key FILE (or INGOT_TLS_CERT and INGOT_TLS_KEY), or neither',
      },
    );
  }
  if (on === false) {
    throw new IngotError('INVALID_ARGUMENT', 'a TLS certificate was given while TLS is turned off', {
      hint: 'drop INGOT_TLS=0 (or "tls": false in config.json), or the certificate and key',
    });
  }
  return { kind: 'given', certFile, keyFile };
}

function parseSwitch(name: string, value: string | undefined): boolean | undefined {
  const v = value?.trim().toLowerCase();
  if (!v) return undefined;
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  throw new IngotError('INVALID_ARGUMENT', `invalid ${name}=${JSON.stringify(value)}`, {
    hint: `use ${name}=1 (on) or ${name}=0 (off)`,
  });
}

/** A retention in whole days (`--NAME N`); 0 keeps for ever. */
function parseDays(name: string, value: string | number | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const days = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (Number.isSafeInteger(days) && days >= 0) return days;
  throw new IngotError('INVALID_ARGUMENT', `invalid --${name} ${JSON.stringify(value)}`, {
    hint: `give whole days, e.g. --${name} 90 (0 keeps for ever; default ${fallback})`,
  });
}

function parseMetricsAccess(value: string): MetricsAccess {
  if (value === 'open' || value === 'token') return value;
  throw new IngotError('INVALID_ARGUMENT', `invalid metrics setting ${JSON.stringify(value)}`, {
    hint: 'use --metrics open (no token, the default) or --metrics token (any valid token, reader up)',
  });
}

async function loadOrCreateStored(paths: HomePaths, name: string | undefined): Promise<StoredConfig> {
  const existing = await readJson(paths.config);
  if (existing) {
    const clusterName = checkName('cluster', (existing as Partial<StoredConfig>).clusterName);
    if (name !== undefined && name !== clusterName) {
      throw new IngotError('CONFLICT', `this server's cluster name is ${clusterName}, fixed at first start`, {
        hint: `drop --name, or use another INGOT_HOME for a server named ${name}`,
      });
    }
    return existing as StoredConfig;
  }
  const clusterName = checkName('cluster', name ?? defaultClusterName());
  const created: StoredConfig = { clusterName, createdAt: new Date().toISOString() };
  await writeFile(paths.config, `${JSON.stringify(created, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return created;
}

/** Host names may hold characters the name rule refuses; keep the safe part. */
function defaultClusterName(): string {
  const cleaned =
    hostname()
      .split('.')[0]
      ?.replace(/[^A-Za-z0-9_-]/g, '-') ?? '';
  return /^[A-Za-z]/.test(cleaned) ? cleaned.slice(0, 64) : `ingot-${cleaned}`.slice(0, 64);
}

async function loadOrCreateToken(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
  return token;
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new IngotError('INVALID_ARGUMENT', `cannot read ${path}: ${(err as Error).message}`, {
      hint: 'fix or remove the file; it is written at first start',
    });
  }
}

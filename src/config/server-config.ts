import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { IngotError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import { type HomePaths, homePaths } from '../store/paths.js';

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
  /** The peer API (mutual TLS). */
  readonly peerHost: string;
  readonly peerPort: number;
  /** The peer API URL other servers should dial, written into the server-data file. */
  readonly advertise: string | undefined;
  /** `sqlite:/path` or `postgres://...`. */
  readonly dbUrl: string;
  readonly logLevel: string;
  /** Chunks younger than this are never collected, so a running ingest keeps what it uploaded. */
  readonly gcGraceSeconds: number;
  readonly token: string;
  /** Whether /metrics answers without a token (`--metrics open`, the default) or needs one. */
  readonly metrics: MetricsAccess;
}

export type MetricsAccess = 'open' | 'token';

export interface ServeOptions {
  readonly home: string;
  readonly name?: string;
  readonly listen?: string;
  readonly peerListen?: string;
  readonly advertise?: string;
  readonly db?: string;
  readonly logLevel?: string;
  readonly metrics?: string;
}

interface StoredConfig {
  clusterName: string;
  createdAt: string;
  dbUrl?: string;
  /** `"metrics": "token"` in config.json puts /metrics behind a token; --metrics overrides it. */
  metrics?: string;
}

export const DEFAULT_LISTEN = '127.0.0.1:7480';
export const DEFAULT_PEER_LISTEN = '127.0.0.1:7481';
export const DEFAULT_GC_GRACE_SECONDS = 15 * 60;

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

function parseAdvertise(value: string): string {
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

export async function loadServerConfig(opts: ServeOptions): Promise<ServerConfig> {
  const paths = homePaths(opts.home);
  await mkdir(paths.home, { recursive: true, mode: 0o700 });
  const stored = await loadOrCreateStored(paths, opts.name);
  const { host, port } = parseListen(opts.listen ?? DEFAULT_LISTEN);
  const peer = parseListen(opts.peerListen ?? DEFAULT_PEER_LISTEN);
  const advertise = opts.advertise === undefined ? undefined : parseAdvertise(opts.advertise);
  const dbUrl = opts.db ?? stored.dbUrl ?? `sqlite:${paths.sqlite}`;
  const token = await loadOrCreateToken(paths.token);
  const metrics = parseMetricsAccess(opts.metrics ?? stored.metrics ?? 'open');
  return Object.freeze({
    paths,
    clusterName: stored.clusterName,
    listenHost: host,
    listenPort: port,
    peerHost: peer.host,
    peerPort: peer.port,
    advertise,
    dbUrl,
    logLevel: opts.logLevel ?? process.env.INGOT_LOG_LEVEL ?? 'info',
    gcGraceSeconds: DEFAULT_GC_GRACE_SECONDS,
    token,
    metrics,
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

import { readFile } from 'node:fs/promises';
import { resolveHome } from '../config/home.js';
import { IngotError } from '../core/errors.js';
import { homePaths } from '../store/paths.js';
import { type ApiClient, createApiClient } from '../transfer/http-client.js';

/** Options every command that talks to a server accepts. */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/**
 * Finds the server and token: flags first, then INGOT_SERVER / INGOT_TOKEN, then the
 * running server of this INGOT_HOME (server.json and token files), so a local CLI needs
 * no flags at all.
 */
export async function connect(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
  const paths = homePaths(resolveHome(env));
  const url = opts.url ?? env.INGOT_SERVER ?? (await localServerUrl(paths.serverInfo));
  const token = opts.token ?? env.INGOT_TOKEN ?? (await readOptional(paths.token))?.trim();
  return createApiClient(url, token);
}

async function localServerUrl(serverInfo: string): Promise<string> {
  const text = await readOptional(serverInfo);
  if (text) {
    try {
      const info = JSON.parse(text) as { url?: unknown };
      if (typeof info.url === 'string') return info.url;
    } catch {
      // fall through to the error below
    }
  }
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

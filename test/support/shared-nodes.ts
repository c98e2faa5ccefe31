/**
 * Two nodes of one server for integration tests: two `ingot serve` processes with their own
 * INGOT_HOMEs and one identity (the second gets the first one's keys and config, as an
 * operator copies them), on one fresh PostgreSQL database and one shared `--store DIR`.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { type IngotServer, startIngot, tempDir } from './ingot.js';
import { freshPgDatabase } from './postgres.js';

export interface SharedNodes {
  /** The nodes now: a test that restarts one puts the new process here, so `stop` ends it. */
  a: IngotServer;
  b: IngotServer;
  /** The shared store: a directory, or the s3:// URL given. */
  readonly shared: string;
  readonly db: { readonly url: string };
  /** Stops both nodes and drops the database. */
  stop(): Promise<void>;
}

/**
 * `store`: where the segments go (`--store`), a fresh directory unless given (an s3:// URL,
 * with `env` holding its AWS_* credentials).
 */
export async function startSharedNodes(
  pgUrl: string,
  name: string,
  opts: { store?: string; env?: Record<string, string> } = {},
): Promise<SharedNodes> {
  const db = await freshPgDatabase(pgUrl);
  const shared = opts.store ?? tempDir('ingot-shared-store-');
  const a = await startIngot({ name, db: db.url, args: ['--store', shared], env: { ...opts.env } });
  const home = tempDir('ingot-home-b-');
  cpSync(join(a.home, 'keys'), join(home, 'keys'), { recursive: true });
  cpSync(join(a.home, 'config.json'), join(home, 'config.json'));
  const b = await startIngot({ home, db: db.url, env: { ...opts.env, INGOT_STORE: shared } });
  const nodes: SharedNodes = {
    a,
    b,
    shared,
    db,
    async stop() {
      await Promise.all([nodes.a.stop(), nodes.b.stop()]);
      await db.drop();
    },
  };
  return nodes;
}

import { lstat, readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { examples, globals } from '../cli/command-kit.js';
import { followJob, type JobView } from '../cli/job-wait.js';
import { count, printJson } from '../cli/output.js';
import { type ProgressFlags, type ProgressMode, progressMode, progressOptions } from '../cli/progress.js';
import { resolveHome } from '../config/home.js';
import { parseAdvertise, parseListen } from '../config/server-config.js';
import {
  readPassphrase,
  SNAPSHOT_BUNDLE_NAME,
  SNAPSHOT_CATALOG,
  SNAPSHOT_IMAGES,
} from '../federation/snapshot-format.js';
import {
  checkIncluded,
  openSnapshot,
  requireFreshHome,
  writeHome,
  writeIncluded,
} from '../federation/snapshot-restore.js';
import { homePaths } from '../store/paths.js';
import { createHttpClient } from '../transfer/http-client.js';

/**
 * `import snapshot`: rebuilds a server from a snapshot on a fresh INGOT_HOME, with no
 * server running (it makes the one that will). Every check comes first: the manifest's
 * signature and every file's digest, the passphrase, the catalog's schema, a free home, a
 * free place for each included file; then the catalog, the home's files and the included
 * files are written, and the images come through the server's own bundle import (a server
 * started for it on loopback, then stopped). A failure on the way removes what it wrote.
 */
export function importSnapshotCommand(group: Command): void {
  const cmd = group
    .command('snapshot <dir>')
    .description(
      'Rebuild a server from a snapshot on a fresh INGOT_HOME: same identity, peers, templates, followings',
    )
    .requiredOption('--passphrase-file <file>', 'the file whose first line was given at export')
    .option(
      '--db <url>',
      'restore the catalog into this database (default: SQLite under INGOT_HOME), e.g. postgres://...',
    )
    .option('--listen <host:port>', 'the REST API address to keep in config.json')
    .option('--peer-listen <host:port>', 'the peer API address to keep in config.json')
    .option('--advertise <url>', 'the https URL peers dial, to keep in config.json')
    .option('--include-root <dir>', 'put the included files under this directory instead of their own paths')
    .option('--json', 'print JSON');
  progressOptions(cmd).action(async (dir: string, opts: ImportFlags & ProgressFlags, self: Command) => {
    const g = globals(self);
    const r = await importSnapshot(resolve(dir), opts, progressMode({ ...opts, json: g.json }));
    if (g.json) return printJson(r);
    if (opts.quiet) return;
    process.stdout.write(
      `restored ${r.server} into ${r.home}: ${count(r.rows, 'catalog row')}, ${count(r.images, 'image')}, ${count(r.included, 'included path')}\n` +
        'start it with: ingot serve\n',
    );
  });
  examples(cmd, [
    'ingot import snapshot /media/usb/fpps1 --passphrase-file pass.txt',
    'ingot import snapshot /media/usb/fpps1-full --passphrase-file pass.txt --listen 0.0.0.0:7480 --peer-listen 0.0.0.0:7481 --advertise https://fpps2.example.com:7481',
    'ingot import snapshot /media/usb/fpps1-os --passphrase-file pass.txt --db postgres://ingot@db.example:5432/ingot',
  ]);
}

interface ImportFlags {
  passphraseFile: string;
  db?: string;
  listen?: string;
  peerListen?: string;
  advertise?: string;
  includeRoot?: string;
}

export interface SnapshotImportResult {
  readonly server: string;
  readonly home: string;
  readonly rows: number;
  readonly images: number;
  readonly included: number;
}

async function importSnapshot(
  dir: string,
  opts: ImportFlags,
  mode: ProgressMode,
): Promise<SnapshotImportResult> {
  const home = resolveHome();
  const paths = homePaths(home);
  for (const a of [opts.listen, opts.peerListen]) if (a !== undefined) parseListen(a);
  const advertise = opts.advertise === undefined ? undefined : parseAdvertise(opts.advertise);
  const root = opts.includeRoot ? resolve(opts.includeRoot) : '/';
  const passphrase = await readPassphrase(resolve(opts.passphraseFile));
  const snapshot = await openSnapshot(dir, passphrase);
  const { body } = snapshot;
  // The database code (kysely, pg: a third of the modules) is loaded only by the command
  // that needs it, so every other CLI call starts without it.
  const { checkCopyMigrations } = await import('../db/catalog-copy.js');
  const { requireEmptyCatalog, restoreCatalog } = await import('../db/catalog-restore.js');
  const { openDatabase } = await import('../db/index.js');
  checkCopyMigrations(body.catalog.migrations);
  const before = await requireFreshHome(home);
  await checkIncluded(body, root);
  const homeExisted = (await lstat(home).catch(() => undefined)) !== undefined;
  const made: string[] = [];
  try {
    const db = await openDatabase({ url: opts.db ?? `sqlite:${paths.sqlite}` });
    try {
      await requireEmptyCatalog(db);
      await restoreCatalog(db, join(dir, SNAPSHOT_CATALOG), new Set(body.images));
    } finally {
      await db.close();
    }
    await writeHome(dir, snapshot, home, {
      listen: opts.listen,
      peerListen: opts.peerListen,
      advertise,
      dbUrl: opts.db,
    });
    await writeIncluded(dir, body, root, made);
    if (body.images.length > 0) {
      await importImages(home, join(dir, SNAPSHOT_IMAGES, `${SNAPSHOT_BUNDLE_NAME}.ingot`), opts.db, mode);
    }
  } catch (err) {
    for (const p of made.reverse()) await rm(p, { recursive: true, force: true });
    if (!homeExisted) await rm(home, { recursive: true, force: true });
    else
      for (const n of await readdir(home))
        if (!before.includes(n)) await rm(join(home, n), { recursive: true, force: true });
    throw err;
  }
  return {
    server: body.server,
    home,
    rows: Object.values(body.catalog.rows).reduce((a, b) => a + b, 0),
    images: body.images.length,
    included: body.include.length,
  };
}

/** The images, by the one bundle import there is: a server on loopback reads the bundle. */
async function importImages(
  home: string,
  bundle: string,
  db: string | undefined,
  mode: ProgressMode,
): Promise<void> {
  const { startServer } = await import('./serve.js');
  const server = await startServer({
    home,
    listen: '127.0.0.1:0',
    peerListen: '127.0.0.1:0',
    logLevel: 'error',
    ...(db ? { db } : {}),
  });
  const client = createHttpClient(server.url, { token: await readToken(home) });
  try {
    const job = await client.json<JobView>('POST', '/api/v1/bundles/import', { path: bundle });
    await followJob(client, job.id, 'images', mode);
  } finally {
    await client.close();
    await server.stop();
  }
}

async function readToken(home: string): Promise<string> {
  return (await readFile(homePaths(home).token, 'utf8')).trim();
}

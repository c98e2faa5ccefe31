import { copyFile, lstat, mkdir, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { CatalogService } from '../catalog/catalog.service.js';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { seal } from '../core/seal.js';
import type { SigningIdentity } from '../core/signatures.js';
import { dumpCatalog } from '../db/catalog-copy.js';
import type { Db } from '../db/database.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { JobContext } from '../jobs/job-runner.js';
import type { Job } from '../jobs/types.js';
import type { ChunkStore, StoredChunk } from '../store/chunk-store.js';
import type { HomePaths } from '../store/paths.js';
import { writeBundle } from '../transfer/bundle-format.js';
import { MAX_DIGESTS_PER_QUERY } from '../transfer/ports.js';
import type { BundleService } from './bundle.service.js';
import {
  digestFile,
  type IncludedEntry,
  listFiles,
  readPassphrase,
  SNAPSHOT_BUNDLE_NAME,
  SNAPSHOT_CATALOG,
  SNAPSHOT_CLEAR,
  SNAPSHOT_FORMAT,
  SNAPSHOT_HOME,
  SNAPSHOT_IMAGES,
  SNAPSHOT_INCLUDE,
  SNAPSHOT_MANIFEST,
  SNAPSHOT_REQUIRED,
  SNAPSHOT_SECRET,
  SNAPSHOT_SECRETS,
  SNAPSHOT_VERSION,
  type SnapshotBody,
  safeAbsolute,
  signSnapshot,
} from './snapshot-format.js';
import { IMPORT_MJS, packIngot, SNAPSHOT_INGOT_DIR, SNAPSHOT_INSTALLER } from './snapshot-installer.js';

/**
 * `export snapshot`, a job of the running server: it writes the snapshot directory
 * (snapshot-format.ts) on its own host, reading its home with its own permissions, so the
 * route is admin's. The catalog is copied consistently while the server serves; the
 * images, when asked for, are a bundle made as `bundle create` makes one. The passphrase
 * is read from its file when the job runs and is never stored (a job's payload is a row of
 * the catalog, which the snapshot copies).
 */
export const SNAPSHOT_EXPORT_JOB_KIND = 'snapshot-export';

export interface SnapshotExportRequest {
  /** Absolute path of a new (or empty) directory. */
  readonly to: string;
  /** `true`: every image; a list: those; absent: none. */
  readonly images?: true | string[];
  readonly include?: string[];
  readonly passphraseFile: string;
  /** Carry this installation of Ingot and an offline installer (snapshot-installer.ts). */
  readonly withIngot?: boolean;
}

export interface SnapshotExportResult {
  readonly to: string;
  readonly files: number;
  readonly bytes: number;
  readonly images: number;
  readonly rows: number;
}

export class SnapshotExport {
  constructor(
    private readonly deps: {
      readonly self: string;
      readonly version: string;
      readonly identity: SigningIdentity;
      readonly db: Db;
      readonly paths: HomePaths;
      /** Where this installation of Ingot is (its package.json), for --with-ingot. */
      readonly packageRoot: string;
      readonly catalog: CatalogService;
      readonly bundles: BundleService;
      readonly store: ChunkStore;
      readonly jobs: JobQueue;
      readonly wake: () => void;
    },
  ) {}

  /** Refuses what the job could not do (a used directory, a missing file or image), then queues it. */
  async start(req: SnapshotExportRequest): Promise<Job<SnapshotExportRequest>> {
    for (const p of [req.to, req.passphraseFile, ...(req.include ?? [])]) {
      if (!isAbsolute(p))
        throw new IngotError('INVALID_ARGUMENT', `${JSON.stringify(p)} is not an absolute path`);
    }
    await requireFreeDir(req.to);
    await readPassphrase(req.passphraseFile);
    for (const p of req.include ?? []) {
      safeAbsolute(p);
      await lstat(p).catch(() => {
        throw new IngotError('PATH_NOT_FOUND', `cannot read ${p} (--include)`);
      });
    }
    if (Array.isArray(req.images)) for (const name of req.images) await this.deps.catalog.getImage(name);
    const job = await this.deps.jobs.enqueue(SNAPSHOT_EXPORT_JOB_KIND, req, { maxAttempts: 1 });
    this.deps.wake();
    return job;
  }

  async run(req: SnapshotExportRequest, ctx: JobContext): Promise<SnapshotExportResult> {
    await requireFreeDir(req.to);
    const made = !(await exists(req.to));
    try {
      return await this.write(req, ctx);
    } catch (err) {
      // A directory without snapshot.json is no snapshot; leave none behind.
      if (made) await rm(req.to, { recursive: true, force: true });
      else
        for (const e of await readdir(req.to).catch(() => []))
          await rm(join(req.to, e), { recursive: true, force: true });
      throw err;
    }
  }

  private async write(req: SnapshotExportRequest, ctx: JobContext): Promise<SnapshotExportResult> {
    const { to } = req;
    const home = this.deps.paths.home;
    await mkdir(join(to, SNAPSHOT_HOME, 'keys'), { recursive: true, mode: 0o700 });
    for (const rel of SNAPSHOT_CLEAR) {
      await copyFile(join(home, rel), join(to, SNAPSHOT_HOME, rel)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT' || SNAPSHOT_REQUIRED.includes(rel)) throw err;
      });
    }
    const secrets: Record<string, string> = {};
    for (const rel of SNAPSHOT_SECRET) {
      const bytes = await readFile(join(home, rel)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT' || SNAPSHOT_REQUIRED.includes(rel)) throw err;
        return undefined;
      });
      if (bytes) secrets[rel] = bytes.toString('base64');
    }
    const passphrase = await readPassphrase(req.passphraseFile);
    await writeFile(
      join(to, SNAPSHOT_SECRETS),
      await seal(Buffer.from(JSON.stringify({ files: secrets })), passphrase),
      {
        mode: 0o600,
      },
    );
    ctx.signal.throwIfAborted();
    const copy = await dumpCatalog(
      this.deps.db,
      join(to, SNAPSHOT_CATALOG),
      join(to, '.catalog-scratch.sqlite'),
    );
    const include: IncludedEntry[] = [];
    for (const p of req.include ?? []) await includePath(p, to, include);
    const images = await this.imageNames(req.images);
    if (images.length > 0) await this.writeImages(images, join(to, SNAPSHOT_IMAGES), ctx);
    if (req.withIngot) {
      await mkdir(join(to, SNAPSHOT_INGOT_DIR));
      await packIngot(this.deps.packageRoot, join(to, SNAPSHOT_INGOT_DIR));
      await writeFile(join(to, SNAPSHOT_INSTALLER), IMPORT_MJS, { mode: 0o755 });
    }
    const files = [];
    let bytes = 0;
    for (const path of await listFiles(to)) {
      const d = await digestFile(join(to, path));
      files.push({ path, ...d });
      bytes += d.size;
    }
    const body: SnapshotBody = {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      ingotVersion: this.deps.version,
      server: this.deps.self,
      created: new Date().toISOString(),
      signingKey: this.deps.identity.publicKeyPem,
      catalog: { source: this.deps.db.dialect, migrations: copy.migrations, rows: copy.rows },
      images,
      include,
      files,
    };
    const manifest = `${JSON.stringify(signSnapshot(this.deps.identity, body), null, 2)}\n`;
    await writeFile(join(to, `${SNAPSHOT_MANIFEST}.partial`), manifest, { mode: 0o644 });
    await rename(join(to, `${SNAPSHOT_MANIFEST}.partial`), join(to, SNAPSHOT_MANIFEST));
    const rows = Object.values(copy.rows).reduce((a, b) => a + b, 0);
    return { to, files: files.length + 1, bytes: bytes + manifest.length, images: images.length, rows };
  }

  /** Every image that may leave this server (not the private ones), or those asked for. */
  private async imageNames(asked: SnapshotExportRequest['images']): Promise<string[]> {
    if (asked === undefined) return [];
    if (Array.isArray(asked)) return [...new Set(asked)];
    return (await this.deps.catalog.listImages()).filter((i) => !i.private).map((i) => i.name);
  }

  private async writeImages(names: string[], dir: string, ctx: JobContext): Promise<void> {
    const plan = await this.deps.bundles.plan(names, {});
    let done = 0;
    const store = this.deps.store;
    async function* chunks(digests: readonly Digest[]): AsyncGenerator<StoredChunk> {
      for (let i = 0; i < digests.length; i += MAX_DIGESTS_PER_QUERY) {
        for await (const c of store.readStored(digests.slice(i, i + MAX_DIGESTS_PER_QUERY))) {
          ctx.signal.throwIfAborted();
          done += c.rawLength;
          ctx.progress(done, plan.rawBytes);
          yield c;
        }
      }
    }
    await writeBundle({
      dir,
      name: SNAPSHOT_BUNDLE_NAME,
      header: { document: plan.document },
      chunks: chunks(plan.digests),
    });
  }
}

/** Walks an --include path: directories, regular files (copied in) and symbolic links. */
async function includePath(path: string, to: string, into: IncludedEntry[]): Promise<void> {
  const st = await lstat(path);
  const mode = st.mode & 0o7777;
  if (st.isSymbolicLink()) {
    into.push({ path, type: 'symlink', target: await readlink(path) });
  } else if (st.isDirectory()) {
    into.push({ path, type: 'dir', mode });
    for (const name of (await readdir(path)).sort()) await includePath(join(path, name), to, into);
  } else if (st.isFile()) {
    const file = `${SNAPSHOT_INCLUDE}/${into.length}`;
    await mkdir(dirname(join(to, file)), { recursive: true });
    await copyFile(path, join(to, file));
    into.push({ path, type: 'file', mode, ...(await digestFile(join(to, file))), file });
  } else {
    throw new IngotError(
      'INVALID_ARGUMENT',
      `${path} is neither a file, a directory nor a symbolic link (--include)`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

async function requireFreeDir(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isDirectory() || (await readdir(path)).length > 0) {
    const left = st.isDirectory() && !(await exists(join(path, SNAPSHOT_MANIFEST)));
    throw new IngotError('CONFLICT', `${path} exists and is not an empty directory`, {
      hint: left
        ? 'it holds no snapshot.json (an export stopped half way leaves that): remove it, or give --to a new directory'
        : 'give --to a new directory (one snapshot per directory)',
    });
  }
}

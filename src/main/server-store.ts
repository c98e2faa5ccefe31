import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { ServerConfig } from '../config/server-config.js';
import { IngotError } from '../core/errors.js';
import type { Db } from '../db/database.js';
import type { ChunkStore, HashedChunkWriter } from '../store/chunk-store.js';
import { DirectorySegments } from '../store/directory-segments.js';
import { ManifestStore } from '../store/manifest-store.js';
import { PackChunkStore, type RecoveryReport } from '../store/pack-chunk-store.js';
import { SegmentChunkStore } from '../store/segment-chunk-store.js';
import type { SegmentTables } from '../store/segment-index.js';
import { type AdoptingStore, StagedStore } from '../store/staged-store.js';

/**
 * The chunk and manifest stores `ingot serve` runs on, chosen by `--store`: the local pack
 * store under INGOT_HOME (one node, its own lock and index), or a shared one that every node
 * of the server writes at once, indexed in the catalog database.
 */
export interface ServerStore {
  readonly store: ChunkStore & HashedChunkWriter & AdoptingStore;
  readonly manifests: ManifestStore;
  /** Temp files a crash left, removed at open. */
  readonly staleTemp: number;
  readonly recovery: RecoveryReport | undefined;
  totals(): { readonly chunks: number; readonly bytes: number };
  /** A bundle import's staging store; always on local disk. */
  stage(): Promise<StagedStore>;
  close(): Promise<void>;
}

/** Opened before the database: its lock says no other process writes under INGOT_HOME. */
export async function openLocalStore(config: ServerConfig): Promise<ServerStore> {
  const root = config.paths.store;
  await mkdir(root, { recursive: true, mode: 0o700 });
  const store = await PackChunkStore.open(root);
  const manifests = new ManifestStore(root, store);
  // The pack store's lock is held now, so nothing else writes here.
  const staleTemp = await manifests.removeTempFiles();
  return {
    store,
    manifests,
    staleTemp,
    recovery: store.recovery,
    totals: () => {
      const t = store.stats();
      return { chunks: t.chunks, bytes: t.storedBytes };
    },
    stage: () => StagedStore.open(store, root),
    close: () => store.close(),
  };
}

/** A store every node of the server shares, its index in `db` (the catalog they share). */
export function openSharedStore(config: ServerConfig, db: Db): Promise<ServerStore> {
  const where = config.store;
  if (where.kind === 'directory') return openSharedDirectoryStore(config, db, where.path);
  throw new IngotError('INVALID_ARGUMENT', `--store ${where.kind}:// is not supported yet`, {
    hint: 'use a directory every node mounts, e.g. --store /mnt/shared/ingot',
  });
}

/** Other nodes' temp files are theirs while they write; a day-old one is a crash's. */
const SHARED_TEMP_AGE_MS = 24 * 3_600_000;

async function openSharedDirectoryStore(config: ServerConfig, db: Db, root: string): Promise<ServerStore> {
  const blobs = await DirectorySegments.open(root);
  // The catalog's migrations made the tables SegmentIndex reads (010_shared_store).
  const index = db.kysely as unknown as Kysely<SegmentTables>;
  const store = await SegmentChunkStore.open(blobs, index, { node: `${hostname()}:${process.pid}` });
  const manifests = new ManifestStore(root, store);
  const staleTemp = await manifests.removeTempFiles({ olderThanMs: SHARED_TEMP_AGE_MS });
  await mkdir(config.paths.store, { recursive: true, mode: 0o700 });
  return {
    store,
    manifests,
    staleTemp,
    recovery: undefined,
    totals: () => {
      const t = store.stats();
      return { chunks: t.chunks, bytes: t.storedBytes };
    },
    stage: () => StagedStore.open(store, root, config.paths.store),
    close: () => store.close(),
  };
}

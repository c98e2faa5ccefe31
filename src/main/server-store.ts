import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { ServerConfig } from '../config/server-config.js';
import type { StoreLocation } from '../config/store-location.js';
import type { Db } from '../db/database.js';
import { removeTempFiles } from '../store/atomic-write.js';
import type { ChunkStore, HashedChunkWriter } from '../store/chunk-store.js';
import { DirectoryManifests } from '../store/directory-manifests.js';
import { DirectorySegments } from '../store/directory-segments.js';
import type { ManifestBlobs } from '../store/manifest-blobs.js';
import { ManifestStore } from '../store/manifest-store.js';
import { PackChunkStore, type RecoveryReport } from '../store/pack-chunk-store.js';
import { storePaths } from '../store/paths.js';
import { S3Bucket } from '../store/s3-bucket.js';
import { S3Manifests } from '../store/s3-manifests.js';
import { S3Segments } from '../store/s3-segments.js';
import type { SegmentBlobs } from '../store/segment-blobs.js';
import { SegmentChunkStore } from '../store/segment-chunk-store.js';
import type { SegmentTables } from '../store/segment-index.js';
import { type AdoptingStore, StagedStore } from '../store/staged-store.js';

/**
 * The chunk and manifest stores `ingot serve` runs on, chosen by `--store`: the local pack
 * store under INGOT_HOME (one node, its own lock and index), or a shared one that every node
 * of the server writes at once (a directory, an S3 bucket), indexed in the catalog database.
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
  const blobs = new DirectoryManifests(root);
  // The pack store's lock is held now, so nothing else writes here.
  const staleTemp = await removeTempFiles(storePaths(root).tmpDir);
  return serverStore(store, blobs, root, { staleTemp, recovery: store.recovery });
}

/** A shared store reached but not yet open: its index lives in the catalog, opened next. */
export interface SharedStoreReached {
  open(db: Db): Promise<ServerStore>;
  /** Lets go of the store if the node stops before opening it. */
  close(): Promise<void>;
}

/** Other nodes' temp files are theirs while they write; a day-old one is a crash's. */
const SHARED_TEMP_AGE_MS = 24 * 3_600_000;

/**
 * Checks the shared store answers before the catalog is opened, so a wrong `--store` (an
 * endpoint that does not answer, a missing bucket, refused credentials) stops the start
 * with UNAVAILABLE having written nothing anywhere.
 */
export async function reachSharedStore(
  config: ServerConfig,
  where: Exclude<StoreLocation, { kind: 'local' }>,
): Promise<SharedStoreReached> {
  if (where.kind === 'directory') {
    const root = where.path;
    return {
      open: async (db) => {
        const blobs = await DirectorySegments.open(root);
        const staleTemp = await removeTempFiles(storePaths(root).tmpDir, {
          olderThanMs: SHARED_TEMP_AGE_MS,
        });
        return openShared(config, db, blobs, new DirectoryManifests(root), staleTemp);
      },
      close: async () => {},
    };
  }
  const bucket = await S3Bucket.open(where);
  return {
    open: (db) => openShared(config, db, new S3Segments(bucket), new S3Manifests(bucket), 0),
    close: async () => bucket.close(),
  };
}

async function openShared(
  config: ServerConfig,
  db: Db,
  segments: SegmentBlobs,
  manifests: ManifestBlobs,
  staleTemp: number,
): Promise<ServerStore> {
  // The catalog's migrations made the tables SegmentIndex reads (010_shared_store).
  const index = db.kysely as unknown as Kysely<SegmentTables>;
  const store = await SegmentChunkStore.open(segments, index, { node: `${hostname()}:${process.pid}` });
  // Bundles stage under the node's own home, which holds no lock in this mode: a staging
  // store is a crash's only once no import could still be writing it.
  const home = config.paths.store;
  await mkdir(home, { recursive: true, mode: 0o700 });
  const old = { olderThanMs: SHARED_TEMP_AGE_MS };
  const stale = staleTemp + (await removeTempFiles(storePaths(home).tmpDir, old));
  return serverStore(store, manifests, home, { staleTemp: stale, recovery: undefined });
}

function serverStore(
  store: (PackChunkStore | SegmentChunkStore) & AdoptingStore,
  blobs: ManifestBlobs,
  stagingRoot: string,
  opened: { readonly staleTemp: number; readonly recovery: RecoveryReport | undefined },
): ServerStore {
  return {
    store,
    manifests: new ManifestStore(blobs, store),
    ...opened,
    totals: () => {
      const t = store.stats();
      return { chunks: t.chunks, bytes: t.storedBytes };
    },
    stage: () => StagedStore.open(store, blobs, stagingRoot),
    close: () => store.close(),
  };
}

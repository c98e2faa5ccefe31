/**
 * The work a node's job runner does, by job kind: each kind's handler wired to the services
 * that do it. Part of the composition root (serve.ts), kept apart so the root reads as the
 * order things start in.
 */
import { countCompaction, type Metrics } from '../api/metrics.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import type { ImageService } from '../catalog/image.service.js';
import type { Db } from '../db/database.js';
import { BUNDLE_IMPORT_JOB_KIND, type LocalBundleImport } from '../federation/bundle-import.js';
import { type FollowService, SYNC_JOB_KIND, type SyncJobPayload } from '../federation/follow.service.js';
import type { LocalSideDeps } from '../federation/local-sides.js';
import type { OriginKeys } from '../federation/origin-keys.js';
import type { PeerService } from '../federation/peer.service.js';
import type { PeerLinks } from '../federation/peer-links.js';
import { TRANSFER_JOB_KIND } from '../federation/replication.service.js';
import {
  SNAPSHOT_EXPORT_JOB_KIND,
  type SnapshotExport,
  type SnapshotExportRequest,
} from '../federation/snapshot-export.js';
import { transferJob } from '../federation/transfer.job.js';
import { collectGarbage, type GcOptions } from '../jobs/handlers/gc.job.js';
import {
  IMPORT_JOB_KIND,
  type UrlImportRequest,
  type UrlImportService,
} from '../jobs/handlers/import.job.js';
import {
  INGEST_JOB_KIND,
  type LocalIngestRequest,
  type LocalIngestService,
} from '../jobs/handlers/ingest.job.js';
import { verifyImage } from '../jobs/handlers/verify.job.js';
import type { JobHandler } from '../jobs/job-runner.js';
import type { ReleaseService } from '../jobs/release.service.js';
import type { Job } from '../jobs/types.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { ManifestStore } from '../store/manifest-store.js';
import type { RateLimits } from '../transfer/rate-limit.js';

export interface JobHandlerDeps {
  readonly db: Db;
  readonly catalog: CatalogService;
  readonly images: ImageService;
  readonly store: ChunkStore;
  readonly manifests: ManifestStore;
  readonly keys: OriginKeys;
  readonly releases: ReleaseService;
  readonly metrics: Metrics;
  readonly peers: PeerService;
  readonly links: PeerLinks;
  readonly local: LocalSideDeps;
  readonly limits: RateLimits;
  readonly ingest: LocalIngestService;
  readonly urlImport: UrlImportService;
  readonly bundleImport: LocalBundleImport;
  readonly follows: FollowService;
  readonly snapshots: SnapshotExport;
  /** Told when a transfer's record was written (the events stream listens). */
  onRecorded(): void;
}

/** Kinds only the leader claims (singleton work; two at once are safe, one is enough). */
export const LEADER_ONLY_KINDS: readonly string[] = ['gc'];

export function jobHandlers(d: JobHandlerDeps): Record<string, JobHandler> {
  return {
    verify: (job, ctx) =>
      verifyImage(
        { images: d.images, store: d.store, signature: (image) => d.keys.checkImage(image) },
        (job.payload as { image: string }).image,
        ctx.progress,
      ),
    gc: (job, ctx) =>
      collectGarbage(
        {
          catalog: d.catalog,
          store: d.store,
          manifests: d.manifests,
          roots: () => d.releases.chunkDigests(),
          onCompacted: (c) => countCompaction(d.metrics, c),
        },
        job.payload as GcOptions,
        ctx.progress,
      ),
    [TRANSFER_JOB_KIND]: transferJob({
      db: d.db,
      peers: d.peers,
      links: d.links,
      local: d.local,
      limits: d.limits,
      onWireBytes: (peer, direction, n) => d.metrics.peerBytes.inc({ peer, direction }, n),
      onRecorded: d.onRecorded,
    }),
    [INGEST_JOB_KIND]: (job, ctx) => d.ingest.run(job.payload as LocalIngestRequest, ctx),
    [IMPORT_JOB_KIND]: (job, ctx) => d.urlImport.run(job as Job<UrlImportRequest>, ctx),
    [BUNDLE_IMPORT_JOB_KIND]: (job, ctx) => d.bundleImport.run(job.payload as { path: string }, ctx),
    [SYNC_JOB_KIND]: (job, ctx) => d.follows.run(job.payload as SyncJobPayload, ctx, job),
    [SNAPSHOT_EXPORT_JOB_KIND]: (job, ctx) => d.snapshots.run(job.payload as SnapshotExportRequest, ctx),
  };
}

import type { AuditLog, TokenService } from '../access/index.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import type { ImageService } from '../catalog/image.service.js';
import type { ActivitySignal } from '../core/activity-signal.js';
import type { BundleService } from '../federation/bundle.service.js';
import type { LocalBundleImport } from '../federation/bundle-import.js';
import type { BundleUploads } from '../federation/bundle-uploads.js';
import type { FollowService } from '../federation/follow.service.js';
import type { PeerService } from '../federation/peer.service.js';
import type { PeerTransfers } from '../federation/peer-transfers.js';
import type { PeeringService } from '../federation/peering.service.js';
import type { SnapshotExport } from '../federation/snapshot-export.js';
import type { TemplateService } from '../federation/template.service.js';
import type { UrlImportService } from '../jobs/handlers/import.job.js';
import type { LocalIngestService } from '../jobs/handlers/ingest.job.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { NodeRegistry } from '../jobs/node-registry.js';
import type { ReleaseService } from '../jobs/release.service.js';
import type { RollService } from '../jobs/roll.service.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { StoreSample } from '../store/store-growth.js';
import type { Metrics } from './metrics.js';

/** Everything the HTTP layer calls; wired in src/main/serve.ts and nowhere else. */
export interface ApiDeps {
  readonly clusterName: string;
  readonly version: string;
  readonly publicKeyPem: string;
  readonly tokens: TokenService;
  readonly audit: AuditLog;
  /** Whether /metrics answers without a token (`ingot serve --metrics open|token`). */
  readonly metricsOpen: boolean;
  readonly gcGraceSeconds: number;
  readonly store: ChunkStore;
  /** The chunk store's totals: chunks indexed, bytes of its files on disk. */
  storeTotals(): { readonly chunks: number; readonly bytes: number };
  /** Samples of the store's totals since this process started (src/store/store-growth.ts). */
  storeGrowth(): readonly StoreSample[];
  /** Fires when running work changes in this process: what the events stream waits on. */
  readonly activity: ActivitySignal;
  readonly images: ImageService;
  readonly ingest: LocalIngestService;
  readonly urlImport: UrlImportService;
  readonly catalog: CatalogService;
  readonly jobs: JobQueue;
  readonly metrics: Metrics;
  readonly peers: PeerService;
  readonly peering: PeeringService;
  /** Transfers peers run with this server: pushes here, pulls from here. */
  readonly served: PeerTransfers;
  readonly templates: TemplateService;
  readonly follows: FollowService;
  readonly bundles: BundleService;
  readonly bundleImport: LocalBundleImport;
  readonly bundleUploads: BundleUploads;
  readonly snapshots: SnapshotExport;
  /** Tells this node's job runner to look for work now (after an enqueue). */
  wakeJobs(): void;
  /** The nodes of this server, this one among them (drained: its health check fails). */
  readonly nodes: NodeRegistry;
  /** Releases of Ingot kept for a roll. */
  readonly releases: ReleaseService;
  /** The rolling self-update. */
  readonly rolls: RollService;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
}

/** The records the REST API answers with, as far as the console reads them (docs/openapi.json). */

export interface Image {
  name: string;
  digest: string;
  kind: 'tree' | 'file';
  imageType: string;
  state: string;
  parentName: string | null;
  origin: string;
  size: number;
  storedBytes: number;
  chunkCount: number;
  fileCount: number;
  createdAt: string;
  receivedFrom: string | null;
  private: boolean;
}

export interface ImageDetail {
  image: Image;
  ancestors: string[];
  descendants: string[];
  series: string[];
  workingCopies: { id: number; host: string; path: string; createdAt: string }[];
}

export interface Progress {
  bytesTotal: number;
  bytesDone: number;
  bytesPresent: number;
  wireBytes: number;
  chunksTotal: number;
  chunksSent: number;
}

/** A push or pull this server runs (a transfer job). */
export interface Transfer extends Progress {
  jobId: number;
  direction: string;
  peer: string;
  image: string;
  state: string;
  error: string | null;
  rate: number | null;
  attempts: number;
  createdAt: string;
  /** When the figures were last written, by the server's clock. */
  updatedAt: string;
}

/** A transfer a peer runs with this server: its push here (in) or pull from here (out). */
export interface ServedTransfer extends Progress {
  id: number;
  direction: 'in' | 'out';
  peer: string;
  image: string;
  state: string;
  outcome: string | null;
  error: string | null;
  rate: number | null;
  startedAt: string;
  updatedAt: string;
}

export interface Job {
  id: number;
  kind: string;
  state: string;
  error: string | null;
  progressDone: number;
  progressTotal: number;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  updatedAt: string;
  result: unknown;
}

export interface Peer {
  name: string;
  clusterName: string;
  endpoint: string;
  maxRate: number | null;
  allowUploads: boolean;
  lastContactAt: string | null;
  reachable?: boolean;
  error?: string;
  errorCode?: string;
  pushesTo: string[];
  pushesHere: string[];
}

export interface Stats {
  store: { chunks: number; bytes: number };
  images: { count: number; byState: Record<string, number>; logicalBytes: number; storedBytes: number };
  dedupRatio: number | null;
  compressionRatio: number | null;
}

export interface Whoami {
  name: string;
  role: string;
  server: string;
}

/** What `GET /api/v1/events` pushes in each `activity` event. */
export interface Activity {
  transfers: Transfer[];
  served: ServedTransfer[];
  jobs: Job[];
  /** The newest jobs and their states: how a job that began and ended between two events is seen. */
  recent: { id: number; kind: string; state: string }[];
}

/** An image as a template version names it. */
export interface TemplateImage {
  name: string;
  digest: string;
  origin: string;
  state: string;
  imageType: string;
  size: number;
}

export interface Template {
  name: string;
  description: string;
  /** The upstream it mirrors; null: this server's own, which it may publish. */
  upstream: string | null;
  createdAt: string;
  members: string[];
  latestVersion: number | null;
  publishedAt: string | null;
  published: TemplateImage[];
}

export interface Following {
  upstream: string;
  template: string;
  everySeconds: number;
  window: string | null;
  maxRate: number | null;
  createdAt: string;
  nextRunAt: string;
  lastRunAt: string | null;
  lastSuccessAt: string | null;
  lastVersion: number | null;
  lastStatus: string | null;
  lastError: string | null;
}

/** What `POST /api/v1/sync` answers without a dry run. */
export interface SyncStarted {
  started: { upstream: string; template: string; job: number | null; waitingFor?: string }[];
}

/** One image of a dry run: what moving it would take. */
export interface ImagePlan {
  meta: TemplateImage;
  status: 'present' | 'needed';
  bytesTotal: number;
  bytesMissing: number;
  chunksMissing: number;
  chunksDelta: number;
  wireBytes: number | null;
}

/** A dry run from a peer: the images it would move and the bytes this server lacks (a pull's: one image). */
export interface TransferPlan {
  dryRun: true;
  images: ImagePlan[];
  bytesMissing: number;
  chunksMissing: number;
}

/** The dry run of an instantiation: the images the peer offers for the filter. */
export interface InstantiatePlan extends TransferPlan {
  filter: string;
}

export interface StoreSample {
  at: string;
  chunks: number;
  bytes: number;
}

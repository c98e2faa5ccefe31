/**
 * The Kysely view of the catalog database. Column types are the intersection of what SQLite
 * and PostgreSQL store the same way: text for timestamps (ISO 8601 UTC, millisecond
 * precision, so text order is time order), integers for sizes and flags, text for JSON.
 */
import type { Generated } from 'kysely';

export interface ImageTypeTable {
  name: string;
  base_type: string;
  description: string;
  /** 1 for the seeded base types, which cannot be deleted. */
  builtin: number;
  created_at: string;
}

export interface ImageTable {
  name: string;
  digest: string;
  kind: 'tree' | 'file';
  image_type: string;
  state: string;
  parent_name: string | null;
  parent_digest: string | null;
  origin: string;
  /** SHA-256 (hex) of the origin's signing key; null where it is not known (006). */
  origin_key_id: string | null;
  size: number;
  stored_bytes: number;
  chunk_count: number;
  file_count: number;
  signature: string | null;
  created_at: string;
  received_from: string | null;
  private: Generated<number>;
  uploaded: Generated<number>;
}

export interface SeriesTable {
  name: string;
  description: string;
  created_at: string;
}

export interface SeriesImageTable {
  series_name: string;
  image_name: string;
  position: number;
  added_at: string;
}

export interface WorkingCopyTable {
  id: Generated<number>;
  image_name: string;
  host: string;
  path: string;
  created_at: string;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/** The states a job does not leave. */
export const ENDED_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export interface JobTable {
  id: Generated<number>;
  kind: string;
  state: JobState;
  payload: string;
  result: string | null;
  error: string | null;
  progress_done: number;
  progress_total: number;
  attempts: number;
  max_attempts: number;
  lease_owner: string | null;
  lease_expires_at: string | null;
  run_after: string;
  created_at: string;
  updated_at: string;
}

/** A job's durable progress, appended in order (008): `done` units and a JSON body. */
export interface JobCheckpointTable {
  job_id: number;
  seq: number;
  done: number;
  body: string;
  created_at: string;
}

export interface PeerTable {
  name: string;
  endpoint: string;
  cert_pem: string;
  cert_fingerprint: string;
  signing_key_pem: string;
  /** SHA-256 (hex) of the SPKI DER of signing_key_pem: what identifies the peer. */
  signing_key_id: string;
  /** The cluster name the peer calls itself; `name` is the one it is registered under here. */
  cluster_name: string;
  max_rate: number | null;
  registered_at: string;
  last_contact_at: string | null;
  allow_uploads: Generated<number>;
}

export interface InstantiationTable {
  peer_name: string;
  filter_kind: string;
  filter_value: string;
  state: string;
  created_at: string;
}

export interface HostTable {
  name: string;
  kind: 'client' | 'target';
  description: string;
  created_at: string;
}

/** A transfer's figures, the same columns in `transfers` and `peer_transfers`. */
export interface TransferProgressColumns {
  bytes_total: Generated<number>;
  bytes_done: Generated<number>;
  bytes_present: Generated<number>;
  wire_bytes: Generated<number>;
  chunks_total: Generated<number>;
  chunks_sent: Generated<number>;
  chunks_delta: Generated<number>;
}

export interface TransferTable extends TransferProgressColumns {
  job_id: number;
  direction: 'push' | 'pull';
  peer_name: string;
  image_name: string;
  digest: string | null;
  outcome: string | null;
  started_at: string | null;
  updated_at: string;
}

export type PeerTransferState = 'running' | 'done' | 'failed' | 'abandoned';

/** A transfer a peer runs with this server: it pushes here (in) or pulls from here (out). */
export interface PeerTransferTable extends TransferProgressColumns {
  id: Generated<number>;
  direction: 'in' | 'out';
  peer_name: string;
  image_name: string;
  digest: string;
  state: PeerTransferState;
  outcome: string | null;
  error: string | null;
  started_at: string;
  /** The last progress seen (within a second); a running row idle past the bound is abandoned. */
  updated_at: string;
}

export interface TemplateTable {
  name: string;
  description: string;
  upstream: string | null;
  created_at: string;
}

export interface TemplateMemberTable {
  template_name: string;
  image_name: string;
  added_at: string;
}

export interface TemplateVersionTable {
  template_name: string;
  version: number;
  body: string;
  signature: string;
  published_at: string;
}

export interface FollowingTable {
  upstream: string;
  template_name: string;
  every_seconds: number;
  window: string | null;
  max_rate: number | null;
  created_at: string;
  next_run_at: string;
  last_run_at: string | null;
  last_success_at: string | null;
  last_version: number | null;
  last_status: string | null;
  last_error: string | null;
}

export interface SubscriptionTable {
  peer_name: string;
  filter: string;
  created_at: string;
}

export interface ApiTokenTable {
  name: string;
  role: string;
  /** SHA-256 of the secret, hex; the secret itself is shown once and never stored. */
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  at: string;
  /** The token's name; null when no valid token came with the request. */
  token_name: string | null;
  method: string;
  route: string;
  target: string | null;
  remote: string;
  status: number;
  code: string | null;
}

export type NodeState = 'starting' | 'serving' | 'draining' | 'stopped';

/** One `ingot serve` process on this catalog (009); its id is its job lease owner. */
export interface NodeTable {
  id: string;
  api_url: string;
  peer_url: string;
  version: string;
  state: NodeState;
  started_at: string;
  heartbeat_at: string;
}

/** A named lease (009): `leader` is held by the node that runs the singleton work. */
export interface ServerLeaseTable {
  name: string;
  holder: string;
  acquired_at: string;
  expires_at: string;
}

/** The one identity this catalog belongs to (009), recorded by its first node. */
export interface ServerIdentityTable {
  id: number;
  cluster_name: string;
  signing_key_id: string;
  peer_cert_fingerprint: string;
  recorded_at: string;
}

/** A shared store's segment (010): one object or file of chunk records, written once. */
export interface StoreSegmentTable {
  id: Generated<number>;
  node: string;
  bytes: number;
  created_at: number;
  /** When a rewrite emptied it (013); null for a segment as written. */
  retired_at: number | null;
}

/** Where a shared store holds a chunk (010); touched_at is ms since the epoch. */
export interface StoreChunkTable {
  digest: string;
  segment: number;
  offset: number;
  length: number;
  raw_length: number;
  encoding: number;
  touched_at: number;
}

/** A release of Ingot kept for a roll (011): an npm tarball, its chunks in the chunk store. */
export interface ReleaseTable {
  version: string;
  sha256: string;
  bytes: number;
  /** JSON: the tarball's chunks in order, [digest, length][]. */
  chunks: string;
  /** JSON: package.json's `dependencies`, compared with the running release's. */
  dependencies: string;
  /** `upload` or the URL it was read from (without a password). */
  source: string;
  added_at: string;
  /** The publisher key that signed it (014); null for a release kept on its SHA-256 alone. */
  signer_key_id: string | null;
  /** That key's name when the release was added (the key may be removed since). */
  signer_name: string | null;
  /** The publisher's Ed25519 signature over `ingot-release-v1 <sha256>`, base64. */
  signature: string | null;
}

/** A publisher key this server trusts to sign releases (014). */
export interface PublisherKeyTable {
  /** SHA-256 (hex) of the key's SPKI DER, as a server's key id. */
  key_id: string;
  name: string;
  /** SPKI PEM. */
  public_key: string;
  added_at: string;
}

export type UpdatePlanState = 'running' | 'done' | 'failed';
export type UpdateStepState = 'pending' | 'draining' | 'install' | 'restarting' | 'done' | 'failed';

/** A roll (011): the release every node is moved to, one node at a time. */
export interface UpdatePlanTable {
  id: Generated<number>;
  version: string;
  sha256: string;
  /** The leader that wrote the plan. */
  leader: string;
  state: UpdatePlanState;
  /** How long a drained node is left for the balancer to stop sending before it restarts. */
  drain_ms: number;
  error: string | null;
  created_at: string;
  ended_at: string | null;
}

/** One node's move within a roll (011), in the order the roll takes them. */
export interface UpdateStepTable {
  plan_id: number;
  seq: number;
  node_id: string;
  from_version: string;
  state: UpdateStepState;
  error: string | null;
  started_at: string | null;
  updated_at: string;
  ended_at: string | null;
}

/** A push's write grant (012): its offer's manifest and delta bases, base64 and JSON. */
export interface PeerWriteGrantTable {
  peer_name: string;
  digest: string;
  manifest: string;
  bases: string;
  created_at: string;
}

export interface Schema {
  image_types: ImageTypeTable;
  images: ImageTable;
  series: SeriesTable;
  series_images: SeriesImageTable;
  working_copies: WorkingCopyTable;
  jobs: JobTable;
  job_checkpoints: JobCheckpointTable;
  peers: PeerTable;
  instantiations: InstantiationTable;
  hosts: HostTable;
  transfers: TransferTable;
  peer_transfers: PeerTransferTable;
  templates: TemplateTable;
  template_members: TemplateMemberTable;
  template_versions: TemplateVersionTable;
  followings: FollowingTable;
  subscriptions: SubscriptionTable;
  api_tokens: ApiTokenTable;
  audit: AuditTable;
  nodes: NodeTable;
  server_leases: ServerLeaseTable;
  server_identity: ServerIdentityTable;
  store_segments: StoreSegmentTable;
  store_chunks: StoreChunkTable;
  releases: ReleaseTable;
  publisher_keys: PublisherKeyTable;
  update_plans: UpdatePlanTable;
  update_steps: UpdateStepTable;
  peer_write_grants: PeerWriteGrantTable;
}

export type DialectName = 'sqlite' | 'postgres';

/** Plain records of the federation room. */
import type { InstantiationFilter } from '../core/filters.js';

export interface PeerRecord {
  /** The name it is registered under here: its cluster name, or the one `--as` gave it. */
  name: string;
  /** The cluster name it calls itself (in its server-data file and its manifests). */
  clusterName: string;
  endpoint: string;
  certPem: string;
  certFingerprint: string;
  signingKeyPem: string;
  /** What identifies it: the SHA-256 (hex) of its signing key's SPKI DER (core/signatures.ts). */
  signingKeyId: string;
  /** Bytes per second across every stream to or from this peer; null for no cap. */
  maxRate: number | null;
  registeredAt: string;
  lastContactAt: string | null;
  /** Takes unasked pushes (uploads) from this peer; they arrive TESTABLE. */
  allowUploads: boolean;
}

export interface InstantiationRecord {
  /** The peer that asked to receive. */
  peerName: string;
  filter: InstantiationFilter;
  createdAt: string;
}

export type HostKind = 'client' | 'target';

export interface HostRecord {
  name: string;
  kind: HostKind;
  description: string;
  createdAt: string;
}

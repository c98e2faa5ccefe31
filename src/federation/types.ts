/** Plain records of the federation room. */
import type { InstantiationFilter } from '../core/filters.js';

export interface PeerRecord {
  name: string;
  endpoint: string;
  certPem: string;
  certFingerprint: string;
  signingKeyPem: string;
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

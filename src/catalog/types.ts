/** Plain domain records the catalog hands out: camelCase, no database types. */
import type { Digest } from '../core/manifest.js';
import type { ImageState } from '../core/states.js';

export type PayloadKind = 'tree' | 'file';

/**
 * The built-in base types and the payload each one takes. A user image type names one of
 * these; its base decides whether images of that type are trees or single files.
 */
export const BASE_TYPES = {
  SOFTWARE: 'tree',
  OSIMAGE: 'tree',
  DISKIMAGE: 'file',
  ISO: 'file',
  ARCHIVE: 'file',
} as const satisfies Record<string, PayloadKind>;

export type BaseType = keyof typeof BASE_TYPES;

export function isBaseType(value: unknown): value is BaseType {
  return typeof value === 'string' && Object.hasOwn(BASE_TYPES, value);
}

export interface ImageTypeRecord {
  name: string;
  baseType: BaseType;
  description: string;
  builtin: boolean;
  createdAt: string;
}

export interface ImageRecord {
  name: string;
  /** Digest of the signed manifest: the image's identity. */
  digest: Digest;
  kind: PayloadKind;
  imageType: string;
  state: ImageState;
  /** The parent when it is in this catalog; null for a root or when the parent is gone. */
  parentName: string | null;
  /** The parent's manifest digest, kept even when the parent is deleted or never arrived. */
  parentDigest: Digest | null;
  /** Cluster name of the server that created and signed the image. */
  origin: string;
  /**
   * Key id (SHA-256 of the SPKI DER, hex) of the origin's signing key: what says which
   * server the origin is, since cluster names may repeat. Null when not known (a replica
   * taken before 0.2.0 from a server that was never registered here).
   */
  originKeyId: string | null;
  /** Logical payload bytes. */
  size: number;
  /** Bytes its distinct chunks take in the store (compressed; chunks shared with other images count fully). */
  storedBytes: number;
  /** Its distinct data chunks, those `storedBytes` counts (holes and repeats in its chunk list are not chunks). */
  chunkCount: number;
  /** Entries of a tree (files, directories, links, devices); 1 for a file image. */
  fileCount: number;
  signature: string | null;
  createdAt: string;
  /** The peer this replica arrived from; null for images made here. */
  receivedFrom: string | null;
  /** Private images are never offered to peers, whatever a filter says. */
  private: boolean;
  /** Sent here by a follower as an upload: its state is this server's to set. */
  uploaded: boolean;
}

/** What the commit step supplies; the catalog fills in the parent link and defaults. */
export interface NewImage {
  name: string;
  digest: Digest;
  kind: PayloadKind;
  imageType: string;
  /** Defaults to TESTABLE. */
  state?: ImageState;
  parentName?: string | null;
  parentDigest?: Digest | null;
  origin: string;
  originKeyId?: string | null;
  size: number;
  storedBytes: number;
  chunkCount: number;
  fileCount: number;
  signature?: string | null;
  /** Defaults to the clock's now. */
  createdAt?: string;
  /** Append the image to this existing series in the same transaction. */
  series?: string;
  receivedFrom?: string | null;
  private?: boolean;
  uploaded?: boolean;
}

export interface ImageFilter {
  type?: string;
  series?: string;
  state?: ImageState;
  /** Replicas that arrived from this peer. */
  receivedFrom?: string;
  origin?: string;
  /** Images whose origin has this key id. */
  originKeyId?: string;
  /** Images whose name contains this, ignoring case. */
  nameContains?: string;
}

/** One page of a list: at most `limit` rows after the first `offset`. */
export interface ImagePage {
  readonly limit: number;
  readonly offset: number;
}

export interface Lineage {
  image: ImageRecord;
  /** Parent first, then its parent, up to the oldest ancestor held here. */
  ancestors: ImageRecord[];
  /** Images that name this one as their parent. */
  descendants: ImageRecord[];
  /** Set when the chain ends at a parent digest this catalog does not hold. */
  unresolvedParentDigest: Digest | null;
}

export interface SeriesRecord {
  name: string;
  description: string;
  createdAt: string;
}

export interface SeriesSummary extends SeriesRecord {
  imageCount: number;
}

export interface SeriesDetail {
  series: SeriesRecord;
  /** In series order, newest last. */
  images: ImageRecord[];
}

export interface WorkingCopyRecord {
  id: number;
  imageName: string;
  host: string;
  /** Absolute, normalised, no trailing slash. */
  path: string;
  createdAt: string;
}

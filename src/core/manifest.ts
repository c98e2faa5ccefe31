import { IngotError } from './errors.js';
/**
 * The manifest model: what an image is, independent of how it is encoded or stored.
 * The canonical encoding lives in manifest-codec.ts and is specified in docs/store-format.md.
 *
 * An image's payload is one logical byte stream (the concatenation of the contents of its
 * regular files in entry order, or the bytes of a single file) cut into chunks. Entries
 * describe the tree; they do not carry offsets, which follow from the sizes in order.
 */

export const MANIFEST_FORMAT = 'ingot-manifest';
/** Versions this code reads; a sealed manifest is written as MANIFEST_VERSION. */
export type ManifestVersion = 1 | 2;
export const MANIFEST_VERSION: ManifestVersion = 2;

/** 64 lowercase hex characters of a SHA-256. */
export type Digest = string & { readonly __brand: 'Digest' };

const DIGEST_RE = /^[0-9a-f]{64}$/;
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/** Refuses anything but a chunk digest, as every store and codec does. */
export function assertDigest(value: unknown): asserts value is Digest {
  if (!isDigest(value))
    throw new IngotError('INVALID_ARGUMENT', `not a chunk digest: ${JSON.stringify(value)}`);
}

/** A piece of the stream: stored bytes named by their digest, or a run of zeros (a hole). */
export type ChunkRef =
  | { readonly kind: 'data'; readonly digest: Digest; readonly length: number }
  | { readonly kind: 'hole'; readonly length: number };

/** Seconds and nanoseconds since the epoch (nanoseconds do not fit a JSON number). */
export interface Timestamp {
  readonly sec: number;
  readonly nsec: number;
}

interface EntryCommon {
  /** Relative, '/'-separated, no '.', '..' or empty components; the root is ".". */
  readonly path: string;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: Timestamp;
  /** Extended attributes, name to base64 value; absent when there are none. */
  readonly xattrs?: Readonly<Record<string, string>>;
}

export type Entry =
  | (EntryCommon & { readonly type: 'dir' })
  /** Its content is the next `size` bytes of the stream. */
  | (EntryCommon & { readonly type: 'file'; readonly size: number })
  | (EntryCommon & { readonly type: 'symlink'; readonly target: string })
  /** Another name for an earlier 'file' entry, whose path is `target`. */
  | (EntryCommon & { readonly type: 'hardlink'; readonly target: string })
  | (EntryCommon & { readonly type: 'fifo' })
  | (EntryCommon & { readonly type: 'chardev' | 'blockdev'; readonly major: number; readonly minor: number });

export type EntryType = Entry['type'];

export type Payload =
  | { readonly kind: 'tree'; readonly entries: readonly Entry[] }
  | { readonly kind: 'file'; readonly size: number; readonly mode: number };

/** What a client builds from local data: content only, no catalog facts. */
export interface ManifestDraft {
  readonly payload: Payload;
  readonly chunks: readonly ChunkRef[];
}

/** What the origin server seals and signs; its digest is the image's identity. */
export interface Manifest extends ManifestDraft {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: ManifestVersion;
  readonly name: string;
  readonly origin: string;
  readonly imageType: string;
  /** Digest of the parent image's manifest, or null. */
  readonly parent: Digest | null;
  /** ISO 8601 UTC, millisecond precision. */
  readonly created: string;
}

export function streamLength(chunks: readonly ChunkRef[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

export function payloadSize(payload: Payload): number {
  if (payload.kind === 'file') return payload.size;
  let n = 0;
  for (const e of payload.entries) if (e.type === 'file') n += e.size;
  return n;
}

// The bounds an archive to unpack must keep (docs/design.md "Import from a URL").

export interface ArchiveLimits {
  /** The largest single entry (a zip member, an ISO file), unpacked. */
  readonly entryBytes: number;
  /** The most bytes one archive unpacks to, all entries together. */
  readonly totalBytes: number;
  /** The most entries an ISO may list (a draft's tree entries are bounded the same). */
  readonly entries: number;
  /** The most a deflated zip member may grow (uncompressed / compressed) past `ratioFrom` bytes. */
  readonly ratio: number;
  readonly ratioFrom: number;
}

export const ARCHIVE_LIMITS: ArchiveLimits = {
  entryBytes: 256 * 1024 ** 3,
  totalBytes: 1024 ** 4,
  entries: 1024 * 1024,
  // An ISO deflates by 1.1-3x; a bomb grows by hundreds to a thousand times.
  ratio: 100,
  ratioFrom: 16 * 1024 * 1024,
};

import { join } from 'node:path';
import type { Digest } from '../core/manifest.js';

/**
 * The whole on-disk layout of one server's data directory (INGOT_HOME), in one place.
 *
 *   $INGOT_HOME/
 *     config.json                 cluster name and settings fixed at first start; the
 *                                 addresses and database `import snapshot` keeps
 *     token                       admin bearer token (mode 0600)
 *     server.json                 URL, pid and (with --tls) certificate fingerprint of the
 *                                 running server, for a local CLI to find and pin it
 *     keys/signing.key            Ed25519 private key that signs manifests (mode 0600)
 *     keys/signing.pub            its public key
 *     keys/peer.key, keys/peer.crt  ECDSA key and self-signed certificate for mutual TLS
 *                                 with peers (pinned by them from the server-data file)
 *     keys/api.key, keys/api.crt  ECDSA key and self-signed certificate of the REST API over
 *                                 https (`ingot serve --tls`), made at its first such start
 *     catalog.sqlite              the default catalog database
 *     store/chunks-v1/ab/<digest> one chunk: 1 encoding byte, then raw or zstd bytes
 *                                 (LocalChunkStore: one file per chunk)
 *     store/packs-v1/<id>.pack    append-only pack files of chunk records (PackChunkStore);
 *                                 <id> is the decimal pack id, zero-padded to 8 digits
 *     store/packs-v1/lock.sqlite  lock held by the process that has the pack store open
 *     store/index-v1.sqlite       pack index: digest -> (pack, offset, length), plus pack
 *                                 sizes; WAL mode, so also -wal and -shm next to it
 *     store/manifests-v1/ab/<digest>.json  canonical manifest bytes
 *     store/tmp/                  temp files, renamed into place once fsynced
 *     store/tmp/staging-<id>/     a bundle import's staging pack store (same layout as
 *                                 store/: packs-v1/, index-v1.sqlite); moved into the main
 *                                 store once the bundle checks, else removed
 *     releases/<version>/         a release of Ingot a roll installed (the npm tarball's
 *                                 package/, node_modules a link to the running release's);
 *                                 the node restarts on its bin/ingot.js
 *
 * A shared store (`ingot serve --store DIR`, every node's the same directory; or the same
 * names as keys under an s3:// prefix) has its own root, indexed in the catalog database:
 *
 *   DIR/segments-v1/<bucket>/<id>.pack  one segment: a sealed pack (pack-file.ts format)
 *                                 written whole by one node; <id> is the segment's row id in
 *                                 store_segments, zero-padded to 12 digits, and <bucket> is
 *                                 id / 4096, zero-padded to 6, so no directory grows huge
 *   DIR/manifests-v1/ab/<digest>.json  canonical manifest bytes, as under store/
 *   DIR/tmp/                      temp files of every node, renamed into place once fsynced
 *
 * On S3 (`--store s3://BUCKET/PREFIX`) the same keys under PREFIX/, and nothing else: a
 * PUT is atomic, so there are no temp objects, and a bundle import stages under the node's
 * own $INGOT_HOME/store/tmp/.
 *
 * The version is in the directory names: a new store format gets new directories.
 */
export interface HomePaths {
  readonly home: string;
  readonly config: string;
  readonly token: string;
  readonly serverInfo: string;
  readonly signingKey: string;
  readonly signingPub: string;
  readonly tlsKey: string;
  readonly tlsCert: string;
  readonly apiKey: string;
  readonly apiCert: string;
  readonly sqlite: string;
  readonly store: string;
  readonly releases: string;
}

export function homePaths(home: string): HomePaths {
  return {
    home,
    config: join(home, 'config.json'),
    token: join(home, 'token'),
    serverInfo: join(home, 'server.json'),
    signingKey: join(home, 'keys', 'signing.key'),
    signingPub: join(home, 'keys', 'signing.pub'),
    tlsKey: join(home, 'keys', 'peer.key'),
    tlsCert: join(home, 'keys', 'peer.crt'),
    apiKey: join(home, 'keys', 'api.key'),
    apiCert: join(home, 'keys', 'api.crt'),
    sqlite: join(home, 'catalog.sqlite'),
    store: join(home, 'store'),
    releases: join(home, 'releases'),
  };
}

/** The key (a path relative to a store's root or an S3 prefix) of manifest `digest`. */
export function manifestKey(digest: Digest): string {
  return `manifests-v1/${digest.slice(0, 2)}/${digest}.json`;
}

/** Where release `version` is installed (the version is checked X.Y.Z before it gets here). */
export function releaseDir(paths: HomePaths, version: string): string {
  return join(paths.releases, version);
}

/** The key (a path relative to the shared root) of segment `id`. */
export function segmentKey(id: number): string {
  const bucket = String(Math.floor(id / 4096)).padStart(6, '0');
  return `segments-v1/${bucket}/${String(id).padStart(12, '0')}.pack`;
}

export interface StorePaths {
  readonly chunksDir: string;
  readonly manifestsDir: string;
  readonly tmpDir: string;
  readonly packsDir: string;
  /** The pack store's lock database (held with an fcntl lock; the owner's pid in its header). */
  readonly packsLock: string;
  /** The pack index database. */
  readonly index: string;
  chunk(digest: Digest): string;
  manifest(digest: Digest): string;
  pack(id: number): string;
  /** The root of a staging store (staged-store.ts) under the temp directory. */
  staging(id: string): string;
}

export function storePaths(root: string): StorePaths {
  const chunksDir = join(root, 'chunks-v1');
  const manifestsDir = join(root, 'manifests-v1');
  const packsDir = join(root, 'packs-v1');
  return {
    chunksDir,
    manifestsDir,
    tmpDir: join(root, 'tmp'),
    packsDir,
    packsLock: join(packsDir, 'lock.sqlite'),
    index: join(root, 'index-v1.sqlite'),
    chunk: (d) => join(chunksDir, d.slice(0, 2), d),
    manifest: (d) => join(root, manifestKey(d)),
    pack: (id) => join(packsDir, `${String(id).padStart(8, '0')}.pack`),
    staging: (id) => join(root, 'tmp', `staging-${id}`),
  };
}

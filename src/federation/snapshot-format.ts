import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, posix, sep } from 'node:path';
import { IngotError } from '../core/errors.js';
import type { Json } from '../core/manifest-codec.js';
import { type SignedDocument, type SigningIdentity, verifyDocumentSignature } from '../core/signatures.js';
import { malformed, sha256, signDocument } from './signed-document.js';

/**
 * The snapshot directory (store-format §14): everything that rebuilds a server elsewhere.
 *
 *   snapshot.json        the signed manifest: what the snapshot is and the SHA-256 of every other file
 *   home/                config.json and the public halves of the keys (keys/signing.pub, keys/peer.crt, keys/api.crt)
 *   secrets.sealed       the private keys and the token, sealed with the passphrase (core/seal.ts)
 *   catalog/<table>.jsonl  the catalog's rows (db/catalog-copy.ts)
 *   include/<n>          the files named with --include, by number; their paths and modes are in the manifest
 *   images/images.ingot  the carried images as a bundle (store-format §13.2), when any
 *
 * snapshot.json is written last, so a directory without it is no snapshot; a reader checks
 * the signature, then every listed file's size and digest, before it uses any of them.
 */
export const SNAPSHOT_FORMAT = 'ingot-snapshot';
/** major.minor: a reader takes any minor of its own major. */
export const SNAPSHOT_VERSION = '1.0';
export const SNAPSHOT_MANIFEST = 'snapshot.json';
export const SNAPSHOT_SECRETS = 'secrets.sealed';
export const SNAPSHOT_HOME = 'home';
export const SNAPSHOT_CATALOG = 'catalog';
export const SNAPSHOT_INCLUDE = 'include';
export const SNAPSHOT_IMAGES = 'images';
export const SNAPSHOT_BUNDLE_NAME = 'images';

export interface SnapshotFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export type IncludedEntry =
  | { readonly path: string; readonly type: 'dir'; readonly mode: number }
  | {
      readonly path: string;
      readonly type: 'file';
      readonly mode: number;
      readonly size: number;
      readonly sha256: string;
      /** Where its bytes are in the snapshot. */
      readonly file: string;
    }
  | { readonly path: string; readonly type: 'symlink'; readonly target: string };

export interface SnapshotBody {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: string;
  readonly ingotVersion: string;
  readonly server: string;
  readonly created: string;
  /** The public half of the key that signed this manifest (and is sealed in secrets.sealed). */
  readonly signingKey: string;
  readonly catalog: {
    readonly source: string;
    readonly migrations: string[];
    readonly rows: Record<string, number>;
  };
  /** The images the bundle carries; the catalog's other images are left out on import. */
  readonly images: string[];
  readonly include: IncludedEntry[];
  readonly files: SnapshotFile[];
}

export function signSnapshot(identity: SigningIdentity, body: SnapshotBody): SignedDocument {
  return signDocument(identity, 'snapshot', body as unknown as Json);
}

/** Every regular file under `dir` but the manifest, as relative POSIX paths, sorted. */
export async function listFiles(dir: string, under = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, under), { withFileTypes: true })) {
    const rel = under ? `${under}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (e.isFile() && rel !== SNAPSHOT_MANIFEST) out.push(rel);
  }
  return out.sort();
}

export async function digestFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const b of createReadStream(path)) {
    hash.update(b as Buffer);
    size += (b as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * The checked manifest of the snapshot in `dir`: the format and its major version, the
 * signature (by the key it names; secrets.sealed must then hold that key's private half),
 * and every listed file present with its size and digest. Nothing else is read before.
 */
export async function readSnapshot(dir: string): Promise<SnapshotBody> {
  const hint = 'copy the snapshot directory again from where it was made; nothing was changed';
  const text = await readFile(join(dir, SNAPSHOT_MANIFEST), 'utf8').catch(() => {
    throw new IngotError(
      'PATH_NOT_FOUND',
      `${dir} holds no ${SNAPSHOT_MANIFEST}: not a snapshot, or a partial one`,
      {
        hint,
      },
    );
  });
  let document: SignedDocument;
  let body: SnapshotBody;
  try {
    document = JSON.parse(text) as SignedDocument;
    body = JSON.parse(document.body) as SnapshotBody;
  } catch {
    throw malformed('snapshot', `${SNAPSHOT_MANIFEST} is not a signed JSON document`);
  }
  if (body?.format !== SNAPSHOT_FORMAT || typeof body.version !== 'string') {
    throw malformed('snapshot', 'not an Ingot snapshot manifest');
  }
  const [major] = body.version.split('.');
  const [ours] = SNAPSHOT_VERSION.split('.');
  if (major !== ours) {
    throw new IngotError(
      'CONFLICT',
      `snapshot format ${body.version} is not one this Ingot reads (${SNAPSHOT_VERSION})`,
      {
        hint:
          Number(major) > Number(ours)
            ? `it was made by a newer Ingot (${String(body.ingotVersion)}); import it with that version; nothing was changed`
            : 'import it with the Ingot version that made it; nothing was changed',
      },
    );
  }
  if (
    typeof body.signingKey !== 'string' ||
    !verifyDocumentSignature(body.signingKey, 'snapshot', sha256(document.body), String(document.signature))
  ) {
    throw new IngotError('BAD_SIGNATURE', 'the snapshot manifest does not carry a valid signature', {
      hint: `${SNAPSHOT_MANIFEST} was changed after it was made; ${hint}`,
    });
  }
  await checkFiles(dir, body.files, hint);
  return body;
}

async function checkFiles(dir: string, files: readonly SnapshotFile[], hint: string): Promise<void> {
  if (!Array.isArray(files)) throw malformed('snapshot', 'its manifest lists no files');
  const missing: string[] = [];
  const changed: string[] = [];
  for (const f of files) {
    const path = join(dir, safeRelative(f.path));
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isFile()) {
      missing.push(f.path);
      continue;
    }
    if (st.size !== f.size || (await digestFile(path)).sha256 !== f.sha256) changed.push(f.path);
  }
  if (missing.length > 0) {
    throw new IngotError('TRUNCATED', `the snapshot is partial: ${missing.length} file(s) missing`, {
      details: { missing: missing.slice(0, 10) },
      hint,
    });
  }
  if (changed.length > 0) {
    throw new IngotError(
      'DIGEST_MISMATCH',
      `${changed.length} file(s) of the snapshot were changed after it was made`,
      {
        details: { changed: changed.slice(0, 10) },
        hint,
      },
    );
  }
}

/** A relative path inside the snapshot: no absolute path, no `..`, no backslash tricks. */
export function safeRelative(path: unknown): string {
  if (
    typeof path !== 'string' ||
    !path ||
    path.includes('\\') ||
    path.includes('\0') ||
    posix.isAbsolute(path) ||
    posix.normalize(path) !== path ||
    path.split('/').includes('..')
  ) {
    throw new IngotError('UNSAFE_PATH', `the snapshot names a file outside itself: ${JSON.stringify(path)}`);
  }
  return path.split('/').join(sep);
}

/** An included file's own path: absolute and normal, so it lands where it was and nowhere else. */
export function safeAbsolute(path: unknown): string {
  if (
    typeof path !== 'string' ||
    !isAbsolute(path) ||
    path.includes('\0') ||
    normalize(path) !== path ||
    path.split(sep).includes('..') ||
    path === sep
  ) {
    throw new IngotError(
      'UNSAFE_PATH',
      `the snapshot would write outside a plain absolute path: ${JSON.stringify(path)}`,
    );
  }
  return path;
}

/** The home files kept in clear (public) and sealed (secret), as paths relative to INGOT_HOME. */
export const SNAPSHOT_CLEAR = ['config.json', 'keys/signing.pub', 'keys/peer.crt', 'keys/api.crt'];
export const SNAPSHOT_SECRET = ['token', 'keys/signing.key', 'keys/peer.key', 'keys/api.key'];
export const SNAPSHOT_REQUIRED = [
  'config.json',
  'token',
  'keys/signing.key',
  'keys/signing.pub',
  'keys/peer.key',
  'keys/peer.crt',
];

/** The first line of the file, which must hold at least 8 characters. */
export async function readPassphrase(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new IngotError('PATH_NOT_FOUND', `cannot read the passphrase file ${file}`);
  });
  const passphrase = text.split(/\r?\n/)[0] ?? '';
  if (passphrase.length < 8) {
    throw new IngotError('INVALID_ARGUMENT', `the passphrase in ${file} is shorter than 8 characters`, {
      hint: 'put a passphrase of 8 characters or more on its first line',
    });
  }
  return passphrase;
}

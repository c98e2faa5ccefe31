import { createPublicKey } from 'node:crypto';
import { chmod, copyFile, lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IngotError } from '../core/errors.js';
import { unseal } from '../core/seal.js';
import { malformed } from './signed-document.js';
import {
  readSnapshot,
  SNAPSHOT_CLEAR,
  SNAPSHOT_HOME,
  SNAPSHOT_REQUIRED,
  SNAPSHOT_SECRET,
  SNAPSHOT_SECRETS,
  type SnapshotBody,
  safeAbsolute,
  safeRelative,
} from './snapshot-format.js';

/**
 * The file half of `import snapshot`: open and check a snapshot (signature, digests, the
 * passphrase), check that the home and the included paths are free, then write the home's
 * files and the included ones. The catalog and the images are restored by the caller.
 * Everything that can refuse does so before the first write.
 */
export interface OpenedSnapshot {
  readonly body: SnapshotBody;
  /** The sealed files, by path relative to INGOT_HOME. */
  readonly secrets: ReadonlyMap<string, Buffer>;
}

export async function openSnapshot(dir: string, passphrase: string): Promise<OpenedSnapshot> {
  const body = await readSnapshot(dir);
  const listed = new Set(body.files.map((f) => f.path));
  for (const rel of [
    SNAPSHOT_SECRETS,
    ...SNAPSHOT_REQUIRED.filter(isPublic).map((p) => `${SNAPSHOT_HOME}/${p}`),
  ]) {
    if (!listed.has(rel)) throw new IngotError('TRUNCATED', `the snapshot lists no ${rel}`);
  }
  const config = JSON.parse(await readFile(join(dir, SNAPSHOT_HOME, 'config.json'), 'utf8')) as {
    clusterName?: unknown;
  };
  if (config.clusterName !== body.server) {
    throw malformed(
      'snapshot',
      `its config.json names ${String(config.clusterName)}, its manifest ${body.server}`,
    );
  }
  const plain = await unseal(await readFile(join(dir, SNAPSHOT_SECRETS)), passphrase);
  const files = (JSON.parse(plain.toString('utf8')) as { files?: Record<string, string> }).files ?? {};
  const secrets = new Map<string, Buffer>();
  for (const [rel, b64] of Object.entries(files)) {
    if (!SNAPSHOT_SECRET.includes(rel))
      throw new IngotError('UNSAFE_PATH', `the sealed secrets name ${JSON.stringify(rel)}`);
    secrets.set(rel, Buffer.from(b64, 'base64'));
  }
  for (const rel of SNAPSHOT_REQUIRED.filter((p) => !isPublic(p))) {
    if (!secrets.has(rel)) throw new IngotError('TRUNCATED', `the sealed secrets hold no ${rel}`);
  }
  // The signer named in the manifest is the key sealed with the passphrase: no one without
  // the passphrase can re-sign a changed snapshot under a key of their own.
  const sealedPub = createPublicKey(secrets.get('keys/signing.key')?.toString('utf8') ?? '')
    .export({ type: 'spki', format: 'pem' })
    .toString();
  if (sealedPub !== createPublicKey(body.signingKey).export({ type: 'spki', format: 'pem' }).toString()) {
    throw new IngotError('BAD_SIGNATURE', 'the snapshot manifest is not signed by the key sealed in it', {
      hint: 'the snapshot was put together from two servers, or changed; nothing was changed',
    });
  }
  return { body, secrets };
}

function isPublic(rel: string): boolean {
  return rel === 'config.json' || rel.endsWith('.pub') || rel.endsWith('.crt');
}

/** The names in a home that make it a server's. */
const SERVER_FILES = ['config.json', 'token', 'keys', 'catalog.sqlite', 'store', 'server.json'];

/** Refuses a home that already has a server; answers the names it holds now. */
export async function requireFreshHome(home: string): Promise<string[]> {
  const st = await lstat(home).catch(() => undefined);
  if (!st) return [];
  if (!st.isDirectory()) throw new IngotError('CONFLICT', `INGOT_HOME ${home} is not a directory`);
  const names = await readdir(home);
  const held = names.filter((n) => SERVER_FILES.includes(n));
  if (held.length > 0) {
    throw new IngotError('CONFLICT', `INGOT_HOME ${home} already has a server (${held.join(', ')})`, {
      hint: 'import into a new INGOT_HOME (set INGOT_HOME to an empty or missing directory); nothing was changed',
    });
  }
  return names;
}

/** The place of an included entry under `root` ("/" restores to the paths it was taken from). */
function target(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}

/**
 * Refuses included entries that would land outside a plain absolute path, write through a
 * symbolic link the snapshot makes, or replace a file that is there (a directory that is
 * there is reused).
 */
export async function checkIncluded(body: SnapshotBody, root: string): Promise<void> {
  const links = body.include.filter((e) => e.type === 'symlink').map((e) => `${safeAbsolute(e.path)}/`);
  const digests = new Map(body.files.map((f) => [f.path, f.sha256]));
  for (const e of body.include) {
    const path = safeAbsolute(e.path);
    if (e.type === 'file' && (safeRelative(e.file) === '' || digests.get(e.file) !== e.sha256)) {
      throw malformed('snapshot', `the bytes of the included ${path} are not among its checked files`);
    }
    if (links.some((l) => path.startsWith(l))) {
      throw new IngotError(
        'UNSAFE_PATH',
        `the snapshot would write ${path} through a symbolic link it makes`,
      );
    }
    const st = await lstat(target(root, path)).catch(() => undefined);
    if (st && !(e.type === 'dir' && st.isDirectory())) {
      throw new IngotError('CONFLICT', `${target(root, path)} exists (an --include of the snapshot)`, {
        hint: 'move it away, or restore the included files elsewhere with --include-root DIR; nothing was changed',
      });
    }
  }
}

/** Writes the included entries; answers the paths made, for an undo. */
export async function writeIncluded(
  dir: string,
  body: SnapshotBody,
  root: string,
  made: string[],
): Promise<void> {
  for (const e of body.include) {
    const path = target(root, e.path);
    if (e.type === 'dir') {
      if (!(await lstat(path).catch(() => undefined))) {
        await mkdir(path, { recursive: true, mode: e.mode });
        made.push(path);
      }
      continue;
    }
    await mkdir(dirname(path), { recursive: true });
    made.push(path);
    if (e.type === 'symlink') await symlink(e.target, path);
    else {
      await copyFile(join(dir, safeRelative(e.file)), path);
      await chmod(path, e.mode);
    }
  }
}

/**
 * Writes config.json (with `changes` merged in: new addresses, the database URL), the
 * public key files and the unsealed secrets (mode 0600) into `home`.
 */
export async function writeHome(
  dir: string,
  snapshot: OpenedSnapshot,
  home: string,
  changes: Record<string, string | undefined>,
): Promise<void> {
  await mkdir(join(home, 'keys'), { recursive: true, mode: 0o700 });
  const listed = new Set(snapshot.body.files.map((f) => f.path));
  for (const rel of SNAPSHOT_CLEAR) {
    if (rel === 'config.json' || !listed.has(`${SNAPSHOT_HOME}/${rel}`)) continue;
    await copyFile(join(dir, SNAPSHOT_HOME, rel), join(home, rel));
  }
  for (const [rel, bytes] of snapshot.secrets) await writeFile(join(home, rel), bytes, { mode: 0o600 });
  const config = JSON.parse(await readFile(join(dir, SNAPSHOT_HOME, 'config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  for (const [k, v] of Object.entries(changes)) if (v !== undefined) config[k] = v;
  await writeFile(join(home, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

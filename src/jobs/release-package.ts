/**
 * What makes a tarball an Ingot release: an npm tarball (gzip'd ustar, entries under
 * `package/`) whose package.json names `ingot` with a semver version, and which holds the
 * entry point and the compiled CLI a node restarts on. Read in memory: a release is bounded
 * (RELEASE_BYTES), far below an image.
 */
import { gunzipSync } from 'node:zlib';
import { IngotError } from '../core/errors.js';

/** The largest release tarball kept, and the most it may unpack to. */
export const RELEASE_BYTES = 128 * 1024 * 1024;
const UNPACKED_BYTES = 1024 * 1024 * 1024;
const PACKAGE_NAME = 'ingot';
const REQUIRED = ['package/bin/ingot.js', 'package/dist/main/cli.js'];
const SEMVER = /^\d{1,9}\.\d{1,9}\.\d{1,9}(-[0-9A-Za-z.-]{1,64})?$/;

export interface ReleasePackage {
  readonly version: string;
  readonly dependencies: Record<string, string>;
}

export function readReleasePackage(tgz: Buffer): ReleasePackage {
  const entries = tarEntries(gunzip(tgz));
  const pkgJson = entries.get('package/package.json');
  if (!pkgJson) throw notIngot('it has no package/package.json');
  let pkg: { name?: unknown; version?: unknown; dependencies?: unknown };
  try {
    pkg = JSON.parse(pkgJson.toString('utf8')) as typeof pkg;
  } catch {
    throw notIngot('its package.json is not JSON');
  }
  if (pkg.name !== PACKAGE_NAME) throw notIngot(`its package is ${JSON.stringify(pkg.name)}, not ingot`);
  if (typeof pkg.version !== 'string' || !SEMVER.test(pkg.version)) {
    throw notIngot(`its version ${JSON.stringify(pkg.version)} is not X.Y.Z`);
  }
  const missing = REQUIRED.filter((f) => !entries.has(f));
  if (missing.length > 0) throw notIngot(`it lacks ${missing.join(', ')}`);
  const deps = pkg.dependencies ?? {};
  if (typeof deps !== 'object' || deps === null || Array.isArray(deps)) {
    throw notIngot('its dependencies are not an object');
  }
  return { version: pkg.version, dependencies: deps as Record<string, string> };
}

function gunzip(tgz: Buffer): Buffer {
  try {
    return gunzipSync(tgz, { maxOutputLength: UNPACKED_BYTES });
  } catch (err) {
    throw notIngot(`it is not a gzip'd tarball (${(err as Error).message})`);
  }
}

/** The regular files of a ustar archive (name → bytes); pax and other entries are skipped. */
function tarEntries(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let at = 0;
  while (at + 512 <= tar.length) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const size = Number.parseInt(field(header, 124, 12).trim() || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0 || at + 512 + size > tar.length) {
      throw notIngot('its tar archive is cut or malformed');
    }
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    const name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
    if (type === '0' || type === '\0') files.set(name, tar.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  if (files.size === 0) throw notIngot('its tar archive holds no file');
  return files;
}

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

function notIngot(why: string): IngotError {
  return new IngotError('BAD_ARCHIVE', `not an Ingot release: ${why}`, {
    hint: 'give the tarball `npm pack` makes of an Ingot build (ingot-X.Y.Z.tgz)',
  });
}

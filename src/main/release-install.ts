import { execFile } from 'node:child_process';
import { mkdir, readFile, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IngotError } from '../core/errors.js';
import { type HomePaths, releaseDir } from '../store/paths.js';

const run = promisify(execFile);

/**
 * Installs a kept release beside the running one, under INGOT_HOME/releases/VERSION: the
 * tarball's package/ unpacked by tar, and node_modules a link to the running release's
 * (a roll is refused up front for a release that needs other dependencies, so the same
 * modules serve it; no registry is needed). Written to a temp directory and renamed, so
 * a half-made install is never started; one already there is reused.
 */
export async function installRelease(
  paths: HomePaths,
  version: string,
  tarball: Buffer,
  runningRoot: string,
): Promise<string> {
  const dir = releaseDir(paths, version);
  if ((await installedVersion(dir)) === version) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const tgz = join(tmp, 'release.tgz');
    await writeFile(tgz, tarball);
    await run('tar', ['-xzf', tgz, '-C', tmp, '--strip-components=1', '--no-same-owner']).catch(
      (err: Error) => {
        throw new IngotError('BAD_ARCHIVE', `release ${version} did not unpack: ${err.message}`);
      },
    );
    await rm(tgz);
    await symlink(await realpath(join(runningRoot, 'node_modules')), join(tmp, 'node_modules'));
    if ((await installedVersion(tmp)) !== version) {
      throw new IngotError('BAD_ARCHIVE', `release ${version} unpacked as another version`);
    }
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return dir;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function installedVersion(dir: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DirectoryManifests } from './directory-manifests.js';
import { manifestBlobsSuite } from './manifest-blobs.suite.js';
import { storePaths } from './paths.js';

manifestBlobsSuite('DirectoryManifests', async () => {
  const root = await mkdtemp(join(tmpdir(), 'ingot-manifests-'));
  // What else lives in a store root is not a manifest: list skips it.
  const paths = storePaths(root);
  await mkdir(join(paths.manifestsDir, 'zz'), { recursive: true });
  await writeFile(join(paths.manifestsDir, 'zz', 'notes.txt'), 'x');
  await mkdir(dirname(paths.pack(1)), { recursive: true });
  await writeFile(paths.pack(1), 'x');
  return { blobs: new DirectoryManifests(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

/**
 * Release tarballs of this build for the roll tests: `npm pack` of a copy of bin/, dist/ and
 * package.json with the version bumped, as a release of Ingot is made; `broken` makes one
 * whose bin exits at once, a release that cannot start.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO, tempDir } from './ingot.js';

export interface ReleaseTarball {
  readonly version: string;
  readonly file: string;
  readonly sha256: string;
}

export async function packRelease(version: string, opts: { broken?: boolean } = {}): Promise<ReleaseTarball> {
  const stage = tempDir('ingot-release-');
  cpSync(join(REPO, 'bin'), join(stage, 'bin'), { recursive: true });
  cpSync(join(REPO, 'dist'), join(stage, 'dist'), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, unknown>;
  delete pkg.scripts;
  writeFileSync(
    join(stage, 'package.json'),
    JSON.stringify({ ...pkg, version, files: ['bin', 'dist'] }, null, 2),
  );
  if (opts.broken)
    writeFileSync(
      join(stage, 'bin', 'ingot.js'),
      "process.stderr.write('cannot start\\n');\nprocess.exit(3);\n",
    );
  const out = tempDir('ingot-release-out-');
  const { stdout } = await promisify(execFile)(
    'npm',
    ['pack', '--ignore-scripts', '--pack-destination', out],
    {
      cwd: stage,
    },
  );
  const file = join(out, stdout.trim().split('\n').at(-1) as string);
  return { version, file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
}

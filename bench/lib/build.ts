import { existsSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { bash, removeTree, run } from './proc.js';

/**
 * The Ingot a long benchmark runs, fixed at its start. A rebuild of the repository's dist/
 * half-way through would otherwise mix two builds in one table, so the run gets its own copy:
 * either of the repository's dist/ as it is, or (BENCH_INGOT_REF) of a commit built apart
 * from the working tree, which measures that commit whatever is being edited meanwhile.
 * The copy links the repository's node_modules.
 */

export interface IngotBuild {
  /** Directory holding bin/ingot.js and dist/, used in place of the repository. */
  readonly root: string;
  /** What was measured, for the report. */
  readonly describe: string;
}

export async function snapshotBuild(
  repo: string,
  dir: string,
  ref: string | undefined,
  log: (s: string) => void,
): Promise<IngotBuild> {
  await removeTree(dir);
  await mkdir(dir, { recursive: true });
  await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'));
  if (ref) {
    const commit = (await run('git', ['-C', repo, 'rev-parse', '--short', `${ref}^{commit}`])).stdout.trim();
    log(`ingot build: compiling commit ${commit} (BENCH_INGOT_REF=${ref}) apart from the working tree`);
    await bash(
      'git -C "$1" archive "$2" bin src package.json tsconfig.json tsconfig.build.json | tar -x -C "$3"',
      [repo, commit, dir],
    );
    await run(join(repo, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.build.json')]);
    return { root: dir, describe: `commit ${commit} (BENCH_INGOT_REF=${ref}), compiled for this run` };
  }
  if (!existsSync(join(repo, 'dist/main/cli.js'))) throw new Error('dist/ is not built (npm run build)');
  await bash('cp -a "$1/bin" "$1/dist" "$1/package.json" "$2/"', [repo, dir]);
  const head = (await run('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])).stdout.trim();
  const dirty = (await run('git', ['-C', repo, 'status', '--porcelain', '--', 'src', 'bin'])).stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  const built = (await bash('date -u -r "$1" +%FT%TZ', [join(repo, 'dist/main/cli.js')])).stdout.trim();
  return {
    root: dir,
    describe:
      `the repository's dist/ (built ${built}), copied at the start; HEAD ${head}` +
      (dirty.length ? `; uncommitted changes in ${dirty.join(', ')}` : ', src/ clean'),
  };
}

/**
 * The build a benchmark's ingot rows run, or why there is none (BENCH_SKIP_INGOT=1, dist/ not
 * built, a BENCH_INGOT_REF that does not compile, a CLI that does not start): the reference
 * tools run either way.
 */
export async function usableBuild(
  repo: string,
  dir: string,
  log: (s: string) => void,
): Promise<{ build?: IngotBuild; missing?: string }> {
  if (process.env.BENCH_SKIP_INGOT === '1') return { missing: 'BENCH_SKIP_INGOT=1' };
  const ref = process.env.BENCH_INGOT_REF || undefined;
  if (!ref && !existsSync(join(repo, 'dist/main/cli.js')))
    return { missing: 'dist/ is not built (npm run build)' };
  let build: IngotBuild;
  try {
    build = await snapshotBuild(repo, dir, ref, log);
  } catch (err) {
    return { missing: `no ingot build to run: ${(err as Error).message.split('\n')[0]}` };
  }
  try {
    await run(process.execPath, [join(build.root, 'bin/ingot.js'), '--help']);
    return { build };
  } catch (err) {
    return { build, missing: `node bin/ingot.js --help fails: ${(err as Error).message.split('\n')[0]}` };
  }
}

import { execFileSync } from 'node:child_process';
import { open, rm, stat } from 'node:fs/promises';
import { compareBlocks } from './block-diff.js';
import { treeDerived } from './meta.js';
import { run } from './proc.js';
import type { TreeInput } from './rootfs.js';
import { MiB } from './stats.js';

/**
 * Input (c): a raw ext4 image of each root file system tree, the way a disk image of a gold
 * root file system is shipped. Both images get the same size (from the larger tree), so v2
 * differs from v1 only where mkfs put different blocks.
 *
 * mkfs.ext4 is made reproducible (fixed UUID, hash seed and clock) so the pair is the same
 * bytes on every run and v2 does not differ from v1 in its superblocks alone.
 *
 * The true change is counted in content, not in place: a file that grows moves the files
 * mkfs writes after it, so most blocks differ at their offset while their bytes are still
 * in v1, some blocks further on. What a perfect delta must carry is v2's file system blocks
 * whose content is in no block of v1 (ext4 places data in whole blocks, so comparing
 * aligned blocks of the image's own block size suffices; mke2fs picks 1 KiB for images this
 * small, 4 KiB for larger ones).
 */

const GENERATOR = 'ext4/3';
const UUID = '6b0c6f4e-5e1a-4c1d-9a8e-62656e636831';
const FAKE_TIME = '1700000000';
// Tried in order: 1.3x is the plan; a tree of many small files can need more room for inodes.
const FACTORS = [1.3, 1.6, 2.0];

export interface Ext4Input {
  readonly kind: 'ext4';
  readonly source: TreeInput['source'];
  readonly v1: string;
  readonly v2: string;
  readonly v1Bytes: number;
  readonly v2Bytes: number;
  /** Image size / larger tree's file bytes. */
  readonly sizeFactor: number;
  /** Whether mkfs ran under fakeroot. */
  readonly fakeroot: boolean;
  /** The file system's block size, from the superblock. */
  readonly blockSize: number;
  /** Blocks that differ from v1's block at the same offset. */
  readonly changedBlocks: number;
  /** v2's blocks whose content is in no block of v1. */
  readonly newBlocks: number;
  /** newBlocks in bytes: what a perfect delta carries. */
  readonly trueChange: number;
}

export async function makeExt4Input(
  dataDir: string,
  tree: TreeInput,
  log: (s: string) => void,
): Promise<Ext4Input> {
  return treeDerived(dataDir, { kind: 'ext4', generator: GENERATOR, ext: 'img' }, tree, log, ({ v1, v2 }) =>
    buildExt4(tree, v1, v2, log),
  );
}

async function buildExt4(
  tree: TreeInput,
  v1: string,
  v2: string,
  log: (s: string) => void,
): Promise<Ext4Input> {
  const treeBytes = Math.max(tree.v1Stats.bytes, tree.v2Stats.bytes);
  let made: { factor: number; fakeroot: boolean } | undefined;
  const errors: string[] = [];
  for (const factor of FACTORS) {
    const mib = Math.ceil((treeBytes * factor) / MiB);
    log(`ext4 input: mkfs.ext4 -d of the v1 and v2 trees into ${mib} MiB images (${factor}x the tree)`);
    try {
      const fakeroot = await mkfs(tree.v1, v1, mib);
      const again = await mkfs(tree.v2, v2, mib, fakeroot);
      made = { factor, fakeroot: fakeroot || again };
      break;
    } catch (err) {
      errors.push((err as Error).message.split('\n').slice(0, 3).join(' / '));
    }
  }
  if (!made) throw new Error(`mkfs.ext4 failed at every size:\n${errors.join('\n')}`);
  const v1Bytes = (await stat(v1)).size;
  const v2Bytes = (await stat(v2)).size;
  const blockSize = await ext4BlockSize(v1);
  const { changedBlocks, newBlocks } = await compareBlocks(v1, v2, blockSize);
  const input: Ext4Input = {
    kind: 'ext4',
    source: tree.source,
    v1,
    v2,
    v1Bytes,
    v2Bytes,
    sizeFactor: made.factor,
    fakeroot: made.fakeroot,
    blockSize,
    changedBlocks,
    newBlocks,
    trueChange: newBlocks * blockSize,
  };
  return input;
}

function hasFakeroot(): boolean {
  try {
    execFileSync('bash', ['-c', 'command -v fakeroot'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Plain mkfs first. Not being root only matters for files this user cannot read; fakeroot is
 * a second try for that case when it is installed. Returns whether fakeroot was needed.
 */
async function mkfs(tree: string, img: string, mib: number, useFakeroot = false): Promise<boolean> {
  const args = ['-q', '-F', '-d', tree, '-U', UUID, '-E', `root_owner=0:0,hash_seed=${UUID}`, img, `${mib}M`];
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: FAKE_TIME };
  await rm(img, { force: true });
  if (!useFakeroot) {
    try {
      await run('mkfs.ext4', args, { env });
      return false;
    } catch (err) {
      if (process.getuid?.() === 0 || !hasFakeroot()) throw err;
    }
    await rm(img, { force: true });
  }
  await run('fakeroot', ['mkfs.ext4', ...args], { env });
  return true;
}

/** s_log_block_size of the superblock (1024 bytes in, field at 24): block size = 1024 << it. */
export async function ext4BlockSize(img: string): Promise<number> {
  const fh = await open(img, 'r');
  try {
    const sb = Buffer.alloc(1024);
    await fh.read(sb, 0, 1024, 1024);
    if (sb.readUInt16LE(56) !== 0xef53) throw new Error(`${img} has no ext4 superblock`);
    return 1024 << sb.readUInt32LE(24);
  } finally {
    await fh.close();
  }
}

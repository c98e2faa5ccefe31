import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareBlocks } from './block-diff.js';
import type { Ext4Input } from './ext4.js';
import { readMeta, writeMeta } from './meta.js';
import { bash } from './proc.js';
import type { TreeInput } from './rootfs.js';

/**
 * Input (d): v2 as an ext4 image is usually made, by patching v1 in place: a copy of the v1
 * image is loop-mounted and the v2 tree synced into it (`rsync -a --delete`). Unlike the ext4
 * input, whose v2 is a fresh mkfs that moves every file written after a grown one, the
 * unchanged files keep their blocks here; new versions land in free blocks.
 *
 * Needs root (mount). `lost+found` is kept (the v2 tree has none; a real patch keeps it).
 * `noinit_itable` keeps the kernel from zeroing inode tables in the background while the
 * copy is mounted. The mount stamps the superblock with times, so v2 differs from one build
 * to the next in a few bytes; it is made once and cached like the other inputs.
 */

const GENERATOR = 'ext4-patched/1';

export interface Ext4PatchedInput {
  readonly kind: 'ext4-patched';
  readonly source: TreeInput['source'];
  readonly v1: string;
  readonly v2: string;
  readonly v1Bytes: number;
  readonly v2Bytes: number;
  readonly blockSize: number;
  readonly changedBlocks: number;
  readonly newBlocks: number;
  readonly trueChange: number;
}

export async function makeExt4PatchedInput(
  dataDir: string,
  ext4: Ext4Input,
  tree: TreeInput,
  log: (s: string) => void,
): Promise<Ext4PatchedInput> {
  const dir = join(dataDir, `ext4-patched-${tree.source}`);
  await mkdir(dir, { recursive: true });
  const metaPath = join(dir, 'meta.json');
  const v2 = join(dir, 'v2.img');
  const expect = {
    generator: GENERATOR,
    source: tree.source,
    v1Bytes: ext4.v1Bytes,
    treeV2Bytes: tree.v2Stats.bytes,
  };
  const cached = await readMeta<Ext4PatchedInput>(metaPath, expect);
  if (cached) {
    log(`ext4-patched input: reusing ${dir}`);
    return { ...cached, v1: ext4.v1, v2 };
  }
  if (process.getuid?.() !== 0)
    throw new Error('the ext4-patched input needs root (it loop-mounts a copy of v1)');
  const tmp = join(dir, 'v2.tmp.img');
  const mnt = join(dir, 'mnt');
  await rm(tmp, { force: true });
  await mkdir(mnt, { recursive: true });
  log(`ext4-patched input: copy of ${ext4.v1}, loop-mounted, rsync -a --delete of the v2 tree into it`);
  await bash('cp --sparse=always "$1" "$2"', [ext4.v1, tmp]);
  await bash('mount -o loop,noatime,noinit_itable "$1" "$2"', [tmp, mnt]);
  try {
    await bash('rsync -a --delete --exclude=/lost+found "$1/" "$2/"', [tree.v2, mnt]);
  } finally {
    await bash('umount "$1"', [mnt]);
  }
  await rename(tmp, v2);
  const { changedBlocks, newBlocks } = await compareBlocks(ext4.v1, v2, ext4.blockSize);
  const input: Ext4PatchedInput = {
    kind: 'ext4-patched',
    source: tree.source,
    v1: ext4.v1,
    v2,
    v1Bytes: ext4.v1Bytes,
    v2Bytes: (await stat(v2)).size,
    blockSize: ext4.blockSize,
    changedBlocks,
    newBlocks,
    trueChange: newBlocks * ext4.blockSize,
  };
  await writeMeta(metaPath, { ...expect, ...input });
  return input;
}

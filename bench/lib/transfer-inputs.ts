import { join } from 'node:path';
import type { BenchConfig } from './config.js';
import { type Ext4Input, makeExt4Input } from './ext4.js';
import { type Ext4PatchedInput, makeExt4PatchedInput } from './ext4-patched.js';
import { type FileInput, makeFileInput } from './random-file.js';
import { makeTreeInput, type TreeInput } from './rootfs.js';
import { fmtBytes } from './stats.js';
import { makeTarInput, type TarInput } from './tar-input.js';
import type { TransferInput } from './transfer-report.js';

/** The transfer benchmark's inputs, made (or found cached) in the order the config names. */

/** The fields every file-like input shares, so each adapter says only its label and description. */
interface FileImage {
  readonly v1: string;
  readonly v2: string;
  readonly v1Bytes: number;
  readonly v2Bytes: number;
  readonly trueChange: number;
}

function fileImage(label: string, f: FileImage, description: string): TransferInput {
  const { v1, v2, v1Bytes, v2Bytes, trueChange } = f;
  return { label, isTree: false, v1, v2, v1Bytes, v2Bytes, trueChange, description, details: { ...f } };
}

function fromFile(f: FileInput): TransferInput {
  return fileImage(
    'file',
    f,
    `v1 ${fmtBytes(f.v1Bytes)} pseudo-random; v2 = ${f.rewrittenBlocks} 4 KiB blocks rewritten + ` +
      `${fmtBytes(f.insertedBytes)} inserted; true change ${fmtBytes(f.trueChange)}`,
  );
}

function fromTree(t: TreeInput): TransferInput {
  const s = t.v1Stats;
  return {
    label: `tree(${t.source})`,
    isTree: true,
    v1: t.v1,
    v2: t.v2,
    v1Bytes: t.v1Stats.bytes,
    v2Bytes: t.v2Stats.bytes,
    trueChange: t.trueChange,
    description:
      `v1 ${s.files} files, ${s.symlinks} symlinks, ${s.dirs} dirs, ${fmtBytes(s.bytes)}; ` +
      `v2 = ${t.changedFiles} files replaced + ${t.newFiles} new; true change ${fmtBytes(t.trueChange)}`,
    details: { ...t },
  };
}

function fromExt4(e: Ext4Input): TransferInput {
  return fileImage(
    `ext4(${e.source})`,
    e,
    `mkfs.ext4 -d of each tree, ${fmtBytes(e.v1Bytes)} raw images (${e.sizeFactor}x the tree, sparse on disk); ` +
      `${e.blockSize}-byte blocks: ${e.changedBlocks} differ in place, ${e.newBlocks} hold content v1 lacks ` +
      `(true change ${fmtBytes(e.trueChange)})`,
  );
}

function fromExt4Patched(e: Ext4PatchedInput): TransferInput {
  return fileImage(
    `ext4-patched(${e.source})`,
    e,
    `v1 = the ext4 input's v1 image (${fmtBytes(e.v1Bytes)}); v2 = a copy of it, loop-mounted, the v2 tree ` +
      `synced in with rsync -a --delete; ${e.blockSize}-byte blocks: ${e.changedBlocks} differ in place, ` +
      `${e.newBlocks} hold content v1 lacks (true change ${fmtBytes(e.trueChange)})`,
  );
}

function fromTar(t: TarInput): TransferInput {
  return fileImage(
    `tar(${t.source})`,
    t,
    `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner of each tree, ${fmtBytes(t.v1Bytes)} / ` +
      `${fmtBytes(t.v2Bytes)}; 512-byte records: ${t.changedRecords} differ in place, ${t.newRecords} hold ` +
      `content v1 lacks (true change ${fmtBytes(t.trueChange)})`,
  );
}

export async function makeTransferInputs(
  cfg: BenchConfig,
  log: (s: string) => void,
): Promise<TransferInput[]> {
  const inputs: TransferInput[] = [];
  const dataDir = join(cfg.dir, 'data');
  const wants = (i: BenchConfig['inputs'][number]) => cfg.inputs.includes(i);
  if (wants('file')) inputs.push(fromFile(await makeFileInput(dataDir, cfg.sizeBytes, log)));
  if (!(['tree', 'ext4', 'ext4-patched', 'tar'] as const).some(wants)) return inputs;
  const tree = await makeTreeInput(cfg, log);
  if (wants('tree')) inputs.push(fromTree(tree));
  if (wants('ext4') || wants('ext4-patched')) {
    const ext4 = await makeExt4Input(dataDir, tree, log);
    if (wants('ext4')) inputs.push(fromExt4(ext4));
    if (wants('ext4-patched'))
      inputs.push(fromExt4Patched(await makeExt4PatchedInput(dataDir, ext4, tree, log)));
  }
  if (wants('tar')) inputs.push(fromTar(await makeTarInput(dataDir, tree, log)));
  return inputs;
}

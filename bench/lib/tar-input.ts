import { rename, stat } from 'node:fs/promises';
import { compareBlocks } from './block-diff.js';
import { treeDerived } from './meta.js';
import { bash } from './proc.js';
import type { TreeInput } from './rootfs.js';

/**
 * Input (e): a tar of each tree, moved as one file image: how a tree travels when the tool
 * knows nothing of files. Deterministic (names sorted, every mtime and owner zeroed), so the
 * pair is the same bytes on every run and v2 differs from v1 only where the trees do.
 *
 * tar puts every member's header and data in 512-byte records, so the true change is v2's
 * records whose content is in no record of v1: the new versions and new files, their headers,
 * and the tail of a header block that moved.
 */

const GENERATOR = 'tar/1';
const RECORD = 512;
const TAR_FLAGS = ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner'];

export interface TarInput {
  readonly kind: 'tar';
  readonly source: TreeInput['source'];
  readonly v1: string;
  readonly v2: string;
  readonly v1Bytes: number;
  readonly v2Bytes: number;
  readonly changedRecords: number;
  readonly newRecords: number;
  readonly trueChange: number;
}

export async function makeTarInput(
  dataDir: string,
  tree: TreeInput,
  log: (s: string) => void,
): Promise<TarInput> {
  return treeDerived(
    dataDir,
    { kind: 'tar', generator: GENERATOR, ext: 'tar' },
    tree,
    log,
    async ({ v1, v2 }) => {
      log(`tar input: tar ${TAR_FLAGS.join(' ')} of the v1 and v2 trees`);
      for (const [src, out] of [
        [tree.v1, v1],
        [tree.v2, v2],
      ] as const) {
        await bash('out="$1"; src="$2"; shift 2; tar "$@" -cf "$out.tmp" -C "$src" .', [
          out,
          src,
          ...TAR_FLAGS,
        ]);
        await rename(`${out}.tmp`, out);
      }
      const { changedBlocks, newBlocks } = await compareBlocks(v1, v2, RECORD);
      const input: TarInput = {
        kind: 'tar',
        source: tree.source,
        v1,
        v2,
        v1Bytes: (await stat(v1)).size,
        v2Bytes: (await stat(v2)).size,
        changedRecords: changedBlocks,
        newRecords: newBlocks,
        trueChange: newBlocks * RECORD,
      };
      return input;
    },
  );
}

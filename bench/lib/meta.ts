import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Generated inputs are cached in the bench dir next to a small JSON file that says what made
 * them. A cached input is reused only when that record matches what would be made now.
 */
export async function readMeta<T>(path: string, expect: Record<string, unknown>): Promise<T | undefined> {
  try {
    const meta = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    for (const [k, v] of Object.entries(expect)) if (meta[k] !== v) return undefined;
    return meta as T;
  } catch {
    return undefined;
  }
}

export async function writeMeta(path: string, meta: object): Promise<void> {
  await writeFile(path, `${JSON.stringify(meta, null, 2)}\n`);
}

/** What an input derived from the tree pair is keyed on: the generator and both trees. */
interface TreePair {
  readonly source: string;
  readonly v1Stats: { readonly bytes: number };
  readonly v2Stats: { readonly bytes: number };
}

/**
 * An input made from the tree pair, in `KIND-SOURCE/` as `v1.EXT` and `v2.EXT`: the cached one
 * when its record still matches, else what `make` builds there, recorded for the next run.
 */
export async function treeDerived<T extends object>(
  dataDir: string,
  spec: { readonly kind: string; readonly generator: string; readonly ext: string },
  tree: TreePair,
  log: (s: string) => void,
  make: (paths: { readonly v1: string; readonly v2: string }) => Promise<T>,
): Promise<T> {
  const dir = join(dataDir, `${spec.kind}-${tree.source}`);
  await mkdir(dir, { recursive: true });
  const metaPath = join(dir, 'meta.json');
  const expect = {
    generator: spec.generator,
    source: tree.source,
    treeV1Bytes: tree.v1Stats.bytes,
    treeV2Bytes: tree.v2Stats.bytes,
  };
  const v1 = join(dir, `v1.${spec.ext}`);
  const v2 = join(dir, `v2.${spec.ext}`);
  const cached = await readMeta<T>(metaPath, expect);
  if (cached) {
    log(`${spec.kind} input: reusing ${dir}`);
    return { ...cached, v1, v2 };
  }
  const input = await make({ v1, v2 });
  await writeMeta(metaPath, { ...expect, ...input });
  return input;
}

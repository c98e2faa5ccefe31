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
 * The directory of an input made from the tree pair (`KIND-SOURCE/` with `v1.EXT`, `v2.EXT`),
 * the record to write once it is made, and the cached input when that record still matches.
 */
export async function treeDerived<T>(
  dataDir: string,
  kind: string,
  generator: string,
  tree: TreePair,
  ext: string,
): Promise<{
  dir: string;
  metaPath: string;
  expect: Record<string, unknown>;
  v1: string;
  v2: string;
  cached: T | undefined;
}> {
  const dir = join(dataDir, `${kind}-${tree.source}`);
  await mkdir(dir, { recursive: true });
  const metaPath = join(dir, 'meta.json');
  const expect = {
    generator,
    source: tree.source,
    treeV1Bytes: tree.v1Stats.bytes,
    treeV2Bytes: tree.v2Stats.bytes,
  };
  const v1 = join(dir, `v1.${ext}`);
  const v2 = join(dir, `v2.${ext}`);
  const cached = await readMeta<T>(metaPath, expect);
  return { dir, metaPath, expect, v1, v2, cached: cached && { ...cached, v1, v2 } };
}

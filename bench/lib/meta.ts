import { readFile, writeFile } from 'node:fs/promises';

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

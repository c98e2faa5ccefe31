import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** What a tree holds: regular-file bytes count each inode once (hard links are free). */
export interface TreeStats {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  readonly hardLinks: number;
  readonly bytes: number;
}

export async function treeStats(root: string): Promise<TreeStats> {
  const seen = new Set<string>();
  const s = { files: 0, dirs: 0, symlinks: 0, hardLinks: 0, bytes: 0 };
  async function walk(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const p = join(dir, name);
      const st = await lstat(p);
      if (st.isDirectory()) {
        s.dirs++;
        await walk(p);
      } else if (st.isSymbolicLink()) s.symlinks++;
      else if (st.isFile()) {
        s.files++;
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) s.hardLinks++;
        else {
          seen.add(key);
          s.bytes += st.size;
        }
      }
    }
  }
  await walk(root);
  return s;
}

/** Regular files under `root`, relative paths, sorted (a stable order for seeded choices). */
export async function regularFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  const names = (await readdir(join(root, rel))).sort();
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, r));
    if (st.isDirectory()) out.push(...(await regularFiles(root, r)));
    else if (st.isFile()) out.push(r);
  }
  return out;
}

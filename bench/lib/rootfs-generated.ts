import { link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { type ContentKind, makeContent } from './content.js';
import { Rng } from './prng.js';

/**
 * A generated stand-in for a root file system, used when debootstrap is not available:
 * 30,000 regular files in a Debian-like layout, ~3% symlinks, 20 hard links.
 *
 * Sizes are log-normal per kind (median, sigma, cap):
 *   text   70%  2 KiB, 1.3, 1 MiB    configs, scripts, docs, sources
 *   data   20%  4 KiB, 1.4, 2 MiB    .gz, .mo, images (incompressible)
 *   binary 10% 24 KiB, 1.5, 16 MiB  executables and libraries
 * which comes to roughly 300–400 MB. Everything follows from the seed.
 */

const FILES = 30_000;
const SUBDIRS = ['core', 'util', 'data', 'tests', 'plugins', 'templates'];
const LANGS = ['de', 'fr', 'es', 'it', 'ja', 'pt_BR', 'ru', 'zh_CN', 'pl', 'sv', 'nl', 'cs'];

export async function generateTree(root: string, seed: string): Promise<void> {
  const rng = new Rng(seed);
  const pkgs = Array.from({ length: 250 }, (_, i) => `pkg${String(i).padStart(3, '0')}-${word(rng)}`);
  const used = new Set<string>();
  const binaries: string[] = [];
  const libs: string[] = [];
  const madeDirs = new Set<string>();

  async function put(rel: string, kind: ContentKind, size: number, mode: number): Promise<void> {
    const dir = dirname(join(root, rel));
    if (!madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      madeDirs.add(dir);
    }
    await writeFile(join(root, rel), makeContent(kind, `${seed}:${rel}`, size), { mode });
  }

  function unique(rel: string): string {
    let r = rel;
    for (let n = 1; used.has(r); n++) r = `${rel}.${n}`;
    used.add(r);
    return r;
  }

  for (let i = 0; i < FILES; i++) {
    const pkg = rng.pick(pkgs);
    const short = pkg.slice(7);
    const roll = rng.next();
    if (roll < 0.7) {
      const size = rng.logNormal(2048, 1.3, 1, 2 ** 20);
      const where = rng.next();
      const rel =
        where < 0.25
          ? `usr/share/doc/${pkg}/${word(rng)}`
          : where < 0.35
            ? `etc/${short}/${word(rng)}.conf`
            : where < 0.75
              ? `usr/lib/python3/dist-packages/${short}/${rng.pick(SUBDIRS)}/${word(rng)}.py`
              : `usr/share/${short}/${rng.pick(SUBDIRS)}/${word(rng)}.${rng.pick(['txt', 'xml', 'pl', 'sh', 'json'])}`;
      await put(unique(rel), 'text', size, rel.endsWith('.sh') ? 0o755 : 0o644);
    } else if (roll < 0.9) {
      const size = rng.logNormal(4096, 1.4, 16, 2 * 2 ** 20);
      const where = rng.next();
      const rel =
        where < 0.4
          ? `usr/share/locale/${rng.pick(LANGS)}/LC_MESSAGES/${short}.mo`
          : where < 0.7
            ? `usr/share/doc/${pkg}/changelog.Debian.gz`
            : `usr/share/${short}/icons/${word(rng)}.png`;
      await put(unique(rel), 'data', size, 0o644);
    } else {
      const size = rng.logNormal(24 * 1024, 1.5, 512, 16 * 2 ** 20);
      const isLib = rng.next() < 0.6;
      const rel = isLib
        ? `usr/lib/x86_64-linux-gnu/lib${short}${word(rng)}.so.${rng.int(0, 9)}.${rng.int(0, 20)}.0`
        : `usr/${rng.next() < 0.8 ? 'bin' : 'sbin'}/${short}-${word(rng)}`;
      const r = unique(rel);
      await put(r, 'binary', size, isLib ? 0o644 : 0o755);
      (isLib ? libs : binaries).push(r);
    }
  }

  // Symlinks, relative as packages ship them: lib.so -> lib.so.N.M.0, alternatives for binaries.
  for (let i = 0; i < 900; i++) {
    const lib = i % 3 !== 0 && libs.length > 0;
    const target = lib ? rng.pick(libs) : rng.pick(binaries);
    const rel = unique(lib ? target.replace(/\.so\..*$/, '.so') : `usr/local/bin/${word(rng)}`);
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await symlink(relative(dirname(join(root, rel)), join(root, target)), join(root, rel));
  }
  // A few hard links, as perl and some coreutils-style packages ship.
  for (let i = 0; i < 20; i++) {
    const target = rng.pick(binaries);
    const rel = unique(`usr/bin/${word(rng)}-hl`);
    await link(join(root, target), join(root, rel));
  }
}

function word(rng: Rng): string {
  const syll = [
    'ab',
    'ac',
    'al',
    'an',
    'ar',
    'be',
    'co',
    'de',
    'el',
    'en',
    'fi',
    'gr',
    'io',
    'is',
    'ka',
    'li',
    'ma',
    'ne',
    'or',
    'pa',
    'qu',
    'ri',
    'st',
    'ti',
    'ux',
    'vi',
    'wa',
    'xe',
    'yo',
    'zu',
  ];
  let w = '';
  const n = rng.int(2, 5);
  for (let i = 0; i < n; i++) w += rng.pick(syll);
  return w;
}

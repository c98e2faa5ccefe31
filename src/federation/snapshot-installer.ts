import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { IngotError } from '../core/errors.js';

/**
 * Ingot itself on the stick, as xCAT's export carries its rpms: one npm tarball of this
 * installation with its production dependencies bundled inside (`bundleDependencies`,
 * Node's own binary included through the `node` package), and `import.mjs`, which a machine
 * with only Node and npm runs to install it offline and restore the snapshot with it.
 */
export const SNAPSHOT_INGOT_DIR = 'ingot';
export const SNAPSHOT_INSTALLER = 'import.mjs';

const run = promisify(execFile);
/** The files of the package besides node_modules. */
const PACKAGE_FILES = ['package.json', 'bin', 'dist', 'README.md', 'CHANGELOG.md'];

/** Writes `<into>/ingot-<version>.tgz` from the installation at `packageRoot`; answers its name. */
export async function packIngot(packageRoot: string, into: string): Promise<string> {
  const stage = join(into, '.stage');
  await rm(stage, { recursive: true, force: true });
  await mkdir(join(stage, 'node_modules'), { recursive: true });
  try {
    for (const f of PACKAGE_FILES.slice(1)) {
      await cp(join(packageRoot, f), join(stage, f), { recursive: true, dereference: true }).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT' || f === 'bin' || f === 'dist') throw err;
        },
      );
    }
    const pkg = JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    delete pkg.devDependencies;
    delete pkg.scripts;
    pkg.bundleDependencies = true;
    await writeFile(join(stage, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    const listed = await npm(['ls', '--omit=dev', '--all', '--parseable'], packageRoot, true);
    const modules = join(packageRoot, 'node_modules');
    for (const path of listed.split('\n').filter(Boolean)) {
      const rel = relative(modules, path);
      // A nested package comes with its parent's directory.
      if (rel.startsWith('..') || rel === '' || rel.split(sep).includes('node_modules')) continue;
      await cp(path, join(stage, 'node_modules', rel), { recursive: true, dereference: true });
    }
    const out = await npm(['pack', '--ignore-scripts', '--pack-destination', into], stage);
    return out.trim().split('\n').at(-1) as string;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

async function npm(args: string[], cwd: string, tolerant = false): Promise<string> {
  try {
    return (await run('npm', args, { cwd, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    // `npm ls` exits 1 on an extraneous package yet lists the tree.
    if (tolerant && e.code !== 'ENOENT' && e.stdout) return e.stdout;
    throw new IngotError(
      'UNAVAILABLE',
      `npm ${args[0]} failed: ${e.code === 'ENOENT' ? 'npm is not on the PATH' : (e.stderr ?? e.message).trim().split('\n').at(-1)}`,
      {
        hint: "--with-ingot packs this installation with npm, which must be on the server's PATH",
      },
    );
  }
}

/**
 * The standalone installer: checks the manifest's signature and the tarball's digest,
 * installs the tarball offline under --prefix (default /opt/ingot) and runs its
 * `ingot import snapshot` on this directory with the other arguments.
 */
export const IMPORT_MJS = `#!/usr/bin/env node
// Installs the Ingot this snapshot carries, offline, and restores the snapshot with it:
//   node import.mjs [--prefix /opt/ingot] --passphrase-file pass.txt [ingot import snapshot options]
// Needs only Node.js and npm. INGOT_HOME says where the server is restored (default ~/.ingot).
import { spawnSync } from 'node:child_process';
import { createHash, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let prefix = '/opt/ingot';
const at = args.indexOf('--prefix');
if (at >= 0) prefix = resolve(args.splice(at, 2)[1] ?? '');
const fail = (message) => {
  process.stderr.write(\`import.mjs: \${message}; nothing was changed\\n\`);
  process.exit(65);
};
const doc = JSON.parse(readFileSync(join(here, 'snapshot.json'), 'utf8'));
const digest = createHash('sha256').update(doc.body, 'utf8').digest('hex');
const body = JSON.parse(doc.body);
const signed = verify(null, Buffer.from(\`ingot-snapshot-v1 \${digest}\`, 'utf8'), body.signingKey, Buffer.from(doc.signature, 'base64'));
if (!signed) fail('snapshot.json does not carry a valid signature');
const tarball = body.files.find((f) => f.path.startsWith('${SNAPSHOT_INGOT_DIR}/') && f.path.endsWith('.tgz'));
if (!tarball) fail('this snapshot carries no Ingot (export it with --with-ingot)');
const file = join(here, ...tarball.path.split('/'));
if (createHash('sha256').update(readFileSync(file)).digest('hex') !== tarball.sha256) fail(\`\${tarball.path} was changed after it was made\`);
const npm = spawnSync('npm', ['install', '--global', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', prefix, file], { stdio: 'inherit' });
if (npm.status !== 0) fail(\`npm install into \${prefix} failed\`);
const pkg = join(prefix, 'lib', 'node_modules', 'ingot');
const node = join(pkg, 'node_modules', 'node', 'bin', 'node');
const r = spawnSync(node, [join(pkg, 'bin', 'ingot.js'), 'import', 'snapshot', here, ...args], { stdio: 'inherit' });
if (r.status === 0) process.stdout.write(\`Ingot is in \${prefix}/bin/ingot (Node.js: \${node})\\n\`);
process.exit(r.status ?? 1);
`;

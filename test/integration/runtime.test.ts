/**
 * The runtime: one Node major, named by package.json's `node` dependency; nothing
 * compiled at install; and a clear stop when the CLI is started by another Node.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { satisfies } from 'semver';
import { describe, expect, it } from 'vitest';
import { BIN, REPO } from '../support/ingot.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  engines?: unknown;
  dependencies: Record<string, string>;
};
/** The oldest Node an `npm install` of this checkout runs under without a warning. */
const OLDEST_NPM_NODE = '20.19.0';
const MAJOR = Number(/\d+/.exec(pkg.dependencies.node ?? '')?.[0]);

/** Every package directory under node_modules (scoped ones included), once. */
function packages(root = join(REPO, 'node_modules')): string[] {
  const out: string[] = [];
  for (const name of readdirSync(root)) {
    if (name.startsWith('.')) continue;
    const dir = join(root, name);
    if (name.startsWith('@')) out.push(...packages(dir));
    else {
      out.push(dir);
      if (existsSync(join(dir, 'node_modules'))) out.push(...packages(join(dir, 'node_modules')));
    }
  }
  return out;
}

describe('runtime', () => {
  it('runs the tests and the servers they spawn on the pinned major, brought by the node package', () => {
    expect(Number(process.versions.node.split('.')[0])).toBe(MAJOR);
    // One place: no engines field to drift from it (and to warn under npm's own Node).
    expect(pkg.engines).toBeUndefined();
    expect(process.execPath.startsWith(join(REPO, 'node_modules'))).toBe(true);
  });

  it('builds no native addon at install: no package has a binding.gyp', () => {
    const compiled = packages().filter((dir) => existsSync(join(dir, 'binding.gyp')));
    expect(compiled).toEqual([]);
    expect(pkg.dependencies).not.toHaveProperty('better-sqlite3');
  });

  it('installs without an engine warning under npm on Node 20: every locked package accepts it', () => {
    const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { engines?: { node?: string } | string[] }>;
    };
    const wanting = Object.entries(lock.packages)
      .map(([path, p]) => [path, Array.isArray(p.engines) ? undefined : p.engines?.node] as const)
      .filter(([, range]) => range !== undefined && !satisfies(OLDEST_NPM_NODE, range))
      .map(([path, range]) => `${path} wants node ${range}`);
    expect(wanting).toEqual([]);
  });

  const older = ['/usr/bin/node', '/usr/local/bin/node'].find(
    (p) => existsSync(p) && !execFileSync(p, ['--version'], { encoding: 'utf8' }).startsWith(`v${MAJOR}.`),
  );
  it.skipIf(!older)('stops at once under another Node, saying which one it needs and how to get it', () => {
    const r = spawnSync(older as string, [BIN, 'image', 'list'], { encoding: 'utf8' });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain(`needs Node.js ${MAJOR}`);
    expect(r.stderr).toContain('npx ingot');
    expect(r.stdout).toBe('');
  });
});

/** The rooms of src/ import only what docs/design.md allows them (.dependency-cruiser.cjs). */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, tempDir } from '../support/ingot.js';

const CONFIG = join(REPO, '.dependency-cruiser.cjs');

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string };
}

/** The check as `npm run lint:deps` runs it (its exit status), and the violations it found. */
function cruise(cwd: string): { status: number | null; violations: Violation[] } {
  const run = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [join(REPO, 'node_modules', '.bin', 'depcruise'), 'src', '--config', CONFIG, ...args],
      {
        cwd,
        encoding: 'utf8',
        // The JSON report of src/ passed spawnSync's default 1 MiB.
        maxBuffer: 64 * 1024 * 1024,
      },
    );
  const report = JSON.parse(run('--output-type', 'json').stdout) as { summary: { violations: Violation[] } };
  return { status: run().status, violations: report.summary.violations };
}

describe('dependencies', () => {
  it('point one way in src/, with no cycle', () => {
    const r = cruise(REPO);
    expect(r.violations.map((v) => `${v.from} -> ${v.to}: ${v.rule.name}`)).toEqual([]);
    expect(r.status).toBe(0);
  });

  describe('a tree of one-import files', () => {
    const root = tempDir('ingot-deps-');
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    const files: Record<string, string> = {
      'src/federation/identity.ts':
        'export interface Signer { sign(): string }\nexport const sign = () => "";\n',
      'src/catalog/types.ts': 'export interface ImageRecord { name: string }\n',
      'src/store/chunk-store.ts': 'export const put = () => 0;\n',
      'test/support/trees.ts': 'export const tree = 1;\n',
      // Wrong way: a service imports a service above it, by value and by type.
      'src/catalog/by-value.ts':
        "import { sign } from '../federation/identity.js';\nexport const s = sign;\n",
      'src/catalog/by-type.ts':
        "import type { Signer } from '../federation/identity.js';\nexport type S = Signer;\n",
      // Storage imports a service.
      'src/store/up.ts':
        "import type { ImageRecord } from '../catalog/types.js';\nexport type R = ImageRecord;\n",
      // The CLI reads the API's records as types, but loads no server code.
      'src/cli/records.ts':
        "import type { ImageRecord } from '../catalog/types.js';\nexport type R = ImageRecord;\n",
      'src/cli/server-code.ts': "import { sign } from '../federation/identity.js';\nexport const s = sign;\n",
      'src/cli/local.ts': "import { put } from '../store/chunk-store.js';\nexport const p = put;\n",
      // The pure domain does no I/O.
      'src/core/hash.ts': "import { createHash } from 'node:crypto';\nexport const h = createHash;\n",
      'src/core/disk.ts': "import { readFile } from 'node:fs/promises';\nexport const r = readFile;\n",
      // Only tests import test code.
      'src/store/fixture.ts': "import { tree } from '../../test/support/trees.js';\nexport const t = tree;\n",
      'src/store/fixture.test.ts':
        "import { tree } from '../../test/support/trees.js';\nexport const t = tree;\n",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    copyFileSync(join(REPO, 'tsconfig.json'), join(root, 'tsconfig.json'));

    it('fail on each import that points the wrong way, and only on those', () => {
      const r = cruise(root);
      expect(r.violations.map((v) => `${v.from}: ${v.rule.name}`).sort()).toEqual([
        'src/catalog/by-type.ts: catalog-imports',
        'src/catalog/by-value.ts: catalog-imports',
        'src/cli/server-code.ts: cli-type-imports',
        'src/core/disk.ts: core-is-pure',
        'src/store/fixture.ts: no-test-code',
        'src/store/up.ts: store-imports',
      ]);
      expect(r.status).not.toBe(0);
    });
  });
});

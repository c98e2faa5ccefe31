/** The rooms of src/ import only what docs/design.md allows them (.dependency-cruiser.cjs). */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/ingot.js';

describe('dependencies', () => {
  it('point one way, with no cycle', () => {
    const r = spawnSync(
      process.execPath,
      [join(REPO, 'node_modules', '.bin', 'depcruise'), 'src', '--config', '.dependency-cruiser.cjs'],
      { cwd: REPO, encoding: 'utf8' },
    );
    expect(r.stdout + r.stderr).toContain('no dependency violations found');
    expect(r.status).toBe(0);
  });
});

/**
 * Starts one throwaway PostgreSQL for the whole test run and hands its URL to the tests as
 * `inject('pgUrl')`. INGOT_TEST_PG_URL points the tests at an existing server instead.
 *
 * The run's temporary files (server homes, trees, bundles: GBs over a run) go in one
 * directory of its own (TMPDIR, which the test processes inherit), removed when the run ends.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runDir = mkdtempSync(join(tmpdir(), 'ingot-run-'));
  // As /tmp is: the test PostgreSQL runs as its own user and makes its cluster in here.
  chmodSync(runDir, 0o1777);
  process.env.TMPDIR = runDir;
  const removeRunDir = () => rmSync(runDir, { recursive: true, force: true });
  const external = process.env.INGOT_TEST_PG_URL;
  if (external) {
    project.provide('pgUrl', external);
    return async () => removeRunDir();
  }
  const server = await startPostgres();
  project.provide('pgUrl', server.url);
  return async () => {
    await server.stop();
    removeRunDir();
  };
}

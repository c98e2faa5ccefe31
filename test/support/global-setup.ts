/**
 * Starts one throwaway PostgreSQL for the whole test run and hands its URL to the tests as
 * `inject('pgUrl')`. INGOT_TEST_PG_URL points the tests at an existing server instead.
 */
import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.INGOT_TEST_PG_URL;
  if (external) {
    project.provide('pgUrl', external);
    return async () => {};
  }
  const server = await startPostgres();
  project.provide('pgUrl', server.url);
  return () => server.stop();
}

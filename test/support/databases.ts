/**
 * Every database test runs against both engines: a temp SQLite file and a fresh database on
 * the run's throwaway PostgreSQL. Use with `describe.each(DIALECTS)`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { DialectName } from '../../src/db/schema.js';
import { freshPgDatabase } from './postgres.js';

export const DIALECTS: readonly DialectName[] = ['sqlite', 'postgres'];

export interface TempDatabase {
  url: string;
  cleanup(): Promise<void>;
}

export async function tempDatabase(dialect: DialectName): Promise<TempDatabase> {
  if (dialect === 'postgres') {
    const db = await freshPgDatabase(inject('pgUrl'));
    return { url: db.url, cleanup: db.drop };
  }
  const dir = mkdtempSync(join(tmpdir(), 'ingot-sqlite-'));
  return {
    url: `sqlite:${join(dir, 'ingot.sqlite')}`,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

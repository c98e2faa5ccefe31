import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Statements whose text depends on a batch's size (`IN (?, ?, ...)`, `VALUES (?, ?), ...`),
 * each prepared once and found again by a short key (a batch's size varies only in its last
 * part): its text, hundreds of placeholders long, is written only to prepare it.
 */
export class BatchStatements {
  private readonly cache = new Map<string, StatementSync>();

  constructor(private readonly db: DatabaseSync) {}

  /** `${prefix} (?, ?, ...)` with n placeholders. */
  in(prefix: string, n: number): StatementSync {
    return this.prepared(`${prefix}/${n}`, () => `${prefix} (${new Array(n).fill('?').join(',')})`);
  }

  /** `${prefix} (VALUES (?, ?), ...) ${suffix}` with n pairs. */
  values(prefix: string, suffix: string, n: number): StatementSync {
    return this.prepared(
      `${prefix}/${suffix}/${n}`,
      () => `${prefix} (VALUES ${new Array(n).fill('(?, ?)').join(',')}) ${suffix}`,
    );
  }

  private prepared(key: string, sql: () => string): StatementSync {
    let stmt = this.cache.get(key);
    if (!stmt) {
      stmt = this.db.prepare(sql());
      if (this.cache.size > 32) this.cache.clear();
      this.cache.set(key, stmt);
    }
    return stmt;
  }
}

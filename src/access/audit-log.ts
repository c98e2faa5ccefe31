import type { Db } from '../db/index.js';

/** One change made through the REST API, or a request refused for want of a permission. */
export interface AuditEntry {
  /** The token's name; null when the request came with no valid token. */
  readonly token: string | null;
  readonly method: string;
  /** The route's pattern, e.g. `/api/v1/images/:name`. */
  readonly route: string;
  /** What it named: the route's parameters, or the name in its body. */
  readonly target: string | null;
  readonly remote: string;
  readonly status: number;
  /** The error code of a refusal. */
  readonly code: string | null;
}

export interface AuditRecord extends AuditEntry {
  readonly id: number;
  readonly at: string;
}

export const MAX_AUDIT_LIMIT = 10_000;

/** The audit record: appended after a request is answered, read newest first. */
export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(e: AuditEntry): Promise<void> {
    await this.db.kysely
      .insertInto('audit')
      .values({
        at: this.now().toISOString(),
        token_name: e.token,
        method: e.method,
        route: e.route,
        target: e.target,
        remote: e.remote,
        status: e.status,
        code: e.code,
      })
      .execute();
  }

  async list(limit: number): Promise<AuditRecord[]> {
    const rows = await this.db.kysely
      .selectFrom('audit')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(Math.min(limit, MAX_AUDIT_LIMIT))
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      at: r.at,
      token: r.token_name,
      method: r.method,
      route: r.route,
      target: r.target,
      remote: r.remote,
      status: r.status,
      code: r.code,
    }));
  }

  /**
   * Drops the rows older than `before`; how many. Rows are appended in time order, so the
   * first row young enough bounds the ids to drop and the delete runs on the primary key.
   */
  async prune(before: Date): Promise<number> {
    const keep = await this.db.kysely
      .selectFrom('audit')
      .select('id')
      .where('at', '>=', before.toISOString())
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    let q = this.db.kysely.deleteFrom('audit');
    if (keep) q = q.where('id', '<', keep.id);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

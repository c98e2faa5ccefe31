/**
 * A job's durable progress (db 008): checkpoints appended in order, each one a number of
 * units done and a small JSON body, read back whole when the job is claimed again. A
 * handler appends one only after the work it describes is durable, so a resumed job never
 * counts on what was lost. One insert per checkpoint keeps a long job's writes linear.
 */
import type { Db } from '../db/database.js';

export interface Checkpoint<B> {
  readonly seq: number;
  readonly done: number;
  readonly body: B;
}

export class JobCheckpoints {
  constructor(private readonly db: Db) {}

  async list<B>(jobId: number): Promise<Checkpoint<B>[]> {
    const rows = await this.db.kysely
      .selectFrom('job_checkpoints')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ seq: Number(r.seq), done: Number(r.done), body: JSON.parse(r.body) as B }));
  }

  async append<B>(jobId: number, seq: number, done: number, body: B): Promise<void> {
    await this.db.kysely
      .insertInto('job_checkpoints')
      .values({ job_id: jobId, seq, done, body: JSON.stringify(body), created_at: new Date().toISOString() })
      .execute();
  }

  async clear(jobId: number): Promise<void> {
    await this.db.kysely.deleteFrom('job_checkpoints').where('job_id', '=', jobId).execute();
  }
}

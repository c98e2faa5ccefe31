/** Queries on `peer_write_grants`: the ledger TransferGrants keeps write grants in. */

import type { Digest } from '../core/manifest.js';
import type { Db } from '../db/database.js';
import type { GrantLedger, LedgerEntry } from './transfer-grants.js';

export class WriteGrantRepository implements GrantLedger {
  constructor(private readonly db: Db) {}

  async save(peer: string, digest: Digest, entry: LedgerEntry): Promise<void> {
    const row = {
      peer_name: peer,
      digest,
      manifest: entry.manifest.toString('base64'),
      bases: JSON.stringify(entry.bases.map((b) => b.toString('base64'))),
      created_at: new Date().toISOString(),
    };
    await this.db.kysely
      .insertInto('peer_write_grants')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['peer_name', 'digest']).doUpdateSet({
          manifest: row.manifest,
          bases: row.bases,
          created_at: row.created_at,
        }),
      )
      .execute();
  }

  async find(peer: string, digest: Digest): Promise<LedgerEntry | undefined> {
    const row = await this.db.kysely
      .selectFrom('peer_write_grants')
      .select(['manifest', 'bases'])
      .where('peer_name', '=', peer)
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (!row) return undefined;
    const bases = (JSON.parse(row.bases) as string[]).map((b) => Buffer.from(b, 'base64'));
    return { manifest: Buffer.from(row.manifest, 'base64'), bases };
  }

  async drop(peer: string, digest: Digest): Promise<void> {
    await this.db.kysely
      .deleteFrom('peer_write_grants')
      .where('peer_name', '=', peer)
      .where('digest', '=', digest)
      .execute();
  }

  /** Rows made before `before`: pushes abandoned long ago. */
  async prune(before: Date): Promise<number> {
    const r = await this.db.kysely
      .deleteFrom('peer_write_grants')
      .where('created_at', '<', before.toISOString())
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

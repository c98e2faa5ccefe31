/** Catalog rows for database tests: an image row with every column, named and linked as asked. */
import type { Db } from '../../src/db/database.js';

export const CATALOG_NOW = '2026-01-01T00:00:00.000Z';

export function imageRow(name: string, parent: string | null) {
  return {
    name,
    digest: `sha256:${name}`,
    kind: 'file' as const,
    image_type: 'DISKIMAGE',
    state: 'PUBLISHED',
    parent_name: parent,
    parent_digest: parent && `sha256:${parent}`,
    origin: 'HQ',
    origin_key_id: null,
    size: 10,
    stored_bytes: 10,
    chunk_count: 1,
    file_count: 1,
    signature: null,
    created_at: CATALOG_NOW,
    received_from: null,
  };
}

/** Records a server in `db`'s identity row, as a server that ran on it did. */
export async function recordOldServer(db: Db): Promise<void> {
  await db.kysely
    .insertInto('server_identity')
    .values({
      id: 1,
      cluster_name: 'OLD',
      signing_key_id: 'k',
      peer_cert_fingerprint: 'f',
      recorded_at: CATALOG_NOW,
    })
    .execute();
}

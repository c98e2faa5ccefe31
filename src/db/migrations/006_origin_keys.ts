/**
 * Origin keys: a server is its signing key, not its cluster name (names may repeat). A peer
 * keeps the cluster name it calls itself beside the local name it is registered under, and
 * the id of its signing key (SHA-256 of the key's SPKI DER, hex); an image records the key
 * id of its origin. Replicas are filled in here from their origin peer's key; this
 * server's own images are filled in by the server at start, which alone knows its key.
 * Frozen once released, like 001.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../schema.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration sees the schema as it was.
type AnyDb = Kysely<any>;

function spkiId(pem: string): string {
  const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

export function originKeys(_dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('peers').addColumn('cluster_name', 'text').execute();
      await db.schema.alterTable('peers').addColumn('signing_key_id', 'text').execute();
      const peers = await db.selectFrom('peers').select(['name', 'signing_key_pem']).execute();
      for (const p of peers as { name: string; signing_key_pem: string }[]) {
        await db
          .updateTable('peers')
          .set({ cluster_name: p.name, signing_key_id: spkiId(p.signing_key_pem) })
          .where('name', '=', p.name)
          .execute();
      }
      await db.schema.createIndex('peers_signing_key_id_idx').on('peers').column('signing_key_id').execute();

      await db.schema.alterTable('images').addColumn('origin_key_id', 'text').execute();
      // Until now a peer's name was its cluster name, so a replica's origin names its peer.
      await db
        .updateTable('images')
        .set((eb) => ({
          origin_key_id: eb
            .selectFrom('peers')
            .select('peers.signing_key_id')
            .whereRef('peers.name', '=', 'images.origin'),
        }))
        .where('received_from', 'is not', null)
        .execute();
      await db.schema.createIndex('images_origin_key_id_idx').on('images').column('origin_key_id').execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropIndex('images_origin_key_id_idx').ifExists().execute();
      await db.schema.alterTable('images').dropColumn('origin_key_id').execute();
      await db.schema.dropIndex('peers_signing_key_id_idx').ifExists().execute();
      await db.schema.alterTable('peers').dropColumn('signing_key_id').execute();
      await db.schema.alterTable('peers').dropColumn('cluster_name').execute();
    },
  };
}

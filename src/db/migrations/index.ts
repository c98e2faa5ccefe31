/**
 * Every migration, in order, listed in code: the compiled build has no source tree to scan,
 * so Kysely's FileMigrationProvider is not used. Names sort lexically; keep the zero padding.
 */
import type { Migration, MigrationProvider } from 'kysely';
import type { DialectName } from '../schema.js';
import { initial } from './001_initial.js';
import { federation } from './002_federation.js';
import { sites } from './003_sites.js';
import { deltaChunks } from './004_delta_chunks.js';
import { access } from './005_access.js';
import { originKeys } from './006_origin_keys.js';
import { peerTransfers } from './007_peer_transfers.js';
import { jobCheckpoints } from './008_job_checkpoints.js';
import { nodes } from './009_nodes.js';
import { sharedStore } from './010_shared_store.js';
import { updates } from './011_updates.js';
import { writeGrants } from './012_write_grants.js';
import { segmentRetirement } from './013_segment_retirement.js';
import { publisherKeys } from './014_publisher_keys.js';

export function migrations(dialect: DialectName): Record<string, Migration> {
  return {
    '001_initial': initial(dialect),
    '002_federation': federation(dialect),
    '003_sites': sites(dialect),
    '004_delta_chunks': deltaChunks(dialect),
    '005_access': access(dialect),
    '006_origin_keys': originKeys(dialect),
    '007_peer_transfers': peerTransfers(dialect),
    '008_job_checkpoints': jobCheckpoints(dialect),
    '009_nodes': nodes(dialect),
    '010_shared_store': sharedStore(dialect),
    '011_updates': updates(dialect),
    '012_write_grants': writeGrants(dialect),
    '013_segment_retirement': segmentRetirement(),
    '014_publisher_keys': publisherKeys(),
  };
}

export function migrationProvider(dialect: DialectName): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}

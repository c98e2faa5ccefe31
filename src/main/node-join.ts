/**
 * How `ingot serve` becomes a node of its server: the registry built for this process and
 * joined before anything else writes to the catalog, so a node of another server (other
 * name, other keys) is refused having changed nothing.
 */
import { hostname } from 'node:os';
import type { Db } from '../db/database.js';
import type { IdentityRow } from '../jobs/node.repository.js';
import { type NodeLogger, NodeRegistry, type NodeSelf } from '../jobs/node-registry.js';

export function nodeIdentity(
  clusterName: string,
  signingKeyId: string,
  peerFingerprint: string,
): IdentityRow {
  return { cluster_name: clusterName, signing_key_id: signingKeyId, peer_cert_fingerprint: peerFingerprint };
}

/** The joined registry; when refused, `onRefused` runs (closing what start opened) and the refusal is thrown. */
export async function joinAsNode(
  db: Db,
  self: NodeSelf,
  opts: { logger: NodeLogger; onRefused: () => Promise<unknown> },
): Promise<NodeRegistry> {
  const nodes = new NodeRegistry(db, self, opts.logger);
  try {
    await nodes.join();
  } catch (err) {
    await opts.onRefused();
    throw err;
  }
  return nodes;
}

/** A job owner is `host:pid`; on this host, a pid that no longer runs is a crashed server. */
export function isDeadLocalOwner(owner: string): boolean {
  const [host, pid] = owner.split(':');
  if (host !== hostname() || !pid || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

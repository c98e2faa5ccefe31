import type { PeerClient as PeerClientType } from './peer-client.js';
import { PeerClient } from './peer-client.js';
import type { TlsIdentity } from './tls-identity.js';
import type { PeerRecord } from './types.js';

/**
 * One mutual-TLS client per peer, reused by every job and request that dials it, and
 * destroyed when the peer is unregistered so its streams stop mid-flight.
 */
export class PeerLinks {
  private readonly clients = new Map<string, PeerClientType>();

  constructor(private readonly tls: TlsIdentity) {}

  client(peer: PeerRecord): PeerClientType {
    const current = this.clients.get(peer.name);
    if (
      current &&
      current.peer.certFingerprint === peer.certFingerprint &&
      current.peer.endpoint === peer.endpoint
    ) {
      return current;
    }
    if (current) void current.destroy();
    const client = new PeerClient(peer, this.tls);
    this.clients.set(peer.name, client);
    return client;
  }

  async revoke(name: string): Promise<void> {
    const client = this.clients.get(name);
    this.clients.delete(name);
    await client?.destroy();
  }

  async closeAll(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.destroy()));
  }
}

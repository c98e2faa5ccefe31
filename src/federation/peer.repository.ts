/** Queries on `peers`, `instantiations` and `hosts`. No rules here: the services decide. */
import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import { filterFromRow, filterValue, type InstantiationFilter } from '../core/filters.js';
import type { PeerTable, Schema } from '../db/schema.js';
import type { HostKind, HostRecord, InstantiationRecord, PeerRecord } from './types.js';

export class PeerRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  get(name: string): Promise<PeerRecord | undefined> {
    return this.one('name', name);
  }

  byFingerprint(fingerprint: string): Promise<PeerRecord | undefined> {
    return this.one('cert_fingerprint', fingerprint);
  }

  bySigningKey(keyId: string): Promise<PeerRecord | undefined> {
    return this.one('signing_key_id', keyId);
  }

  private async one(
    column: 'name' | 'cert_fingerprint' | 'signing_key_id',
    value: string,
  ): Promise<PeerRecord | undefined> {
    const row = await this.db.selectFrom('peers').selectAll().where(column, '=', value).executeTakeFirst();
    return row && toPeer(row);
  }

  /** Peers that call themselves `clusterName` (several may), by local name. */
  async byClusterName(clusterName: string): Promise<PeerRecord[]> {
    const rows = await this.db
      .selectFrom('peers')
      .selectAll()
      .where('cluster_name', '=', clusterName)
      .orderBy('name')
      .execute();
    return rows.map(toPeer);
  }

  async list(): Promise<PeerRecord[]> {
    return (await this.db.selectFrom('peers').selectAll().orderBy('name').execute()).map(toPeer);
  }

  async insert(p: PeerRecord): Promise<void> {
    await this.db
      .insertInto('peers')
      .values({
        name: p.name,
        endpoint: p.endpoint,
        cert_pem: p.certPem,
        cert_fingerprint: p.certFingerprint,
        signing_key_pem: p.signingKeyPem,
        signing_key_id: p.signingKeyId,
        cluster_name: p.clusterName,
        max_rate: p.maxRate,
        registered_at: p.registeredAt,
        last_contact_at: p.lastContactAt,
        allow_uploads: p.allowUploads ? 1 : 0,
      })
      .execute();
  }

  async delete(name: string): Promise<boolean> {
    await this.db.deleteFrom('instantiations').where('peer_name', '=', name).execute();
    await this.db.deleteFrom('subscriptions').where('peer_name', '=', name).execute();
    const r = await this.db.deleteFrom('peers').where('name', '=', name).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  async touch(name: string, at: string): Promise<void> {
    await this.db.updateTable('peers').set({ last_contact_at: at }).where('name', '=', name).execute();
  }

  async setMaxRate(name: string, maxRate: number | null): Promise<void> {
    await this.db.updateTable('peers').set({ max_rate: maxRate }).where('name', '=', name).execute();
  }

  async setAllowUploads(name: string, allow: boolean): Promise<void> {
    await this.db
      .updateTable('peers')
      .set({ allow_uploads: allow ? 1 : 0 })
      .where('name', '=', name)
      .execute();
  }

  // ---- subscriptions: the instantiations this server asked of its peers

  /** False when this request was recorded already. */
  async subscribe(peer: string, filter: string, at: string): Promise<boolean> {
    const r = await this.db
      .insertInto('subscriptions')
      .values({ peer_name: peer, filter, created_at: at })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async unsubscribe(peer: string, filter: string): Promise<void> {
    await this.db
      .deleteFrom('subscriptions')
      .where('peer_name', '=', peer)
      .where('filter', '=', filter)
      .execute();
  }

  async subscriptions(peer: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('subscriptions')
      .select('filter')
      .where('peer_name', '=', peer)
      .orderBy('filter')
      .execute();
    return rows.map((r) => r.filter);
  }

  // ---- instantiations

  async instantiations(peer?: string): Promise<InstantiationRecord[]> {
    let q = this.db.selectFrom('instantiations').selectAll();
    if (peer) q = q.where('peer_name', '=', peer);
    const rows = await q.orderBy('peer_name').orderBy('created_at').execute();
    return rows.map((r) => ({
      peerName: r.peer_name,
      filter: filterFromRow(r.filter_kind, r.filter_value, r.state),
      createdAt: r.created_at,
    }));
  }

  /** False when the same instantiation already stood. */
  async addInstantiation(peer: string, f: InstantiationFilter, at: string): Promise<boolean> {
    const existing = await this.db
      .selectFrom('instantiations')
      .select('peer_name')
      .where((eb) => sameInstantiation(eb, peer, f))
      .executeTakeFirst();
    if (existing) return false;
    await this.db
      .insertInto('instantiations')
      .values({
        peer_name: peer,
        filter_kind: f.kind,
        filter_value: filterValue(f),
        state: f.state,
        created_at: at,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
    return true;
  }

  async removeInstantiation(peer: string, f: InstantiationFilter): Promise<boolean> {
    const r = await this.db
      .deleteFrom('instantiations')
      .where((eb) => sameInstantiation(eb, peer, f))
      .executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  // ---- clients and targets

  async host(name: string): Promise<HostRecord | undefined> {
    const row = await this.db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst();
    return row && { name: row.name, kind: row.kind, description: row.description, createdAt: row.created_at };
  }

  async hosts(kind?: HostKind): Promise<HostRecord[]> {
    let q = this.db.selectFrom('hosts').selectAll();
    if (kind) q = q.where('kind', '=', kind);
    const rows = await q.orderBy('name').execute();
    return rows.map((r) => ({
      name: r.name,
      kind: r.kind,
      description: r.description,
      createdAt: r.created_at,
    }));
  }

  async insertHost(h: HostRecord): Promise<void> {
    await this.db
      .insertInto('hosts')
      .values({ name: h.name, kind: h.kind, description: h.description, created_at: h.createdAt })
      .execute();
  }

  async deleteHost(name: string, kind: HostKind): Promise<boolean> {
    const r = await this.db
      .deleteFrom('hosts')
      .where('name', '=', name)
      .where('kind', '=', kind)
      .executeTakeFirst();
    return r.numDeletedRows > 0n;
  }
}

function sameInstantiation(
  eb: ExpressionBuilder<Schema, 'instantiations'>,
  peer: string,
  f: InstantiationFilter,
) {
  return eb.and([
    eb('peer_name', '=', peer),
    eb('filter_kind', '=', f.kind),
    eb('filter_value', '=', filterValue(f)),
    eb('state', '=', f.state),
  ]);
}

function toPeer(r: Selectable<PeerTable>): PeerRecord {
  return {
    name: r.name,
    endpoint: r.endpoint,
    certPem: r.cert_pem,
    certFingerprint: r.cert_fingerprint,
    signingKeyPem: r.signing_key_pem,
    signingKeyId: r.signing_key_id,
    clusterName: r.cluster_name ?? r.name,
    maxRate: r.max_rate === null ? null : Number(r.max_rate),
    registeredAt: r.registered_at,
    lastContactAt: r.last_contact_at,
    allowUploads: Number(r.allow_uploads) === 1,
  };
}

import { type Clock, systemClock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import { keyId } from '../core/signatures.js';
import type { Db } from '../db/database.js';
import { isUniqueViolation } from '../db/db-errors.js';
import { PeerRepository } from './peer.repository.js';
import { parseServerData } from './server-data.js';
import type { HostKind, HostRecord, PeerRecord } from './types.js';

/**
 * Peers and the names they share with clients and targets. Registering pins the peer's
 * certificate and signing key from its server-data file; unregistering forgets them and
 * tells the listeners (`onRevoke`) so live connections are cut at once. A peer is its
 * signing key; its local name is unique here, its cluster name need not be.
 */
const IDENTITY_MS = 1000;
/** A bound on the identities kept: the registered peers, in any real server. */
const MAX_IDENTITIES = 10_000;

export class PeerService {
  private readonly revokeListeners: ((peer: PeerRecord) => Promise<void> | void)[] = [];
  private readonly changeListeners: (() => Promise<void> | void)[] = [];
  /** The peers this node last told its listeners of, by certificate fingerprint. */
  private known: Map<string, PeerRecord> | undefined;
  /** Peers by certificate as last read, and the writes here since (any write voids them all). */
  private readonly identities = new Map<string, { readonly peer: PeerRecord; readonly at: number }>();

  constructor(
    private readonly db: Db,
    private readonly self: { readonly name: string; readonly fingerprint: string; readonly keyId: string },
    private readonly clock: Clock = systemClock,
  ) {}

  onRevoke(listener: (peer: PeerRecord) => Promise<void> | void): void {
    this.revokeListeners.push(listener);
  }

  /** Called after any change to the set of trusted certificates. */
  onChange(listener: () => Promise<void> | void): void {
    this.changeListeners.push(listener);
  }

  private get repo(): PeerRepository {
    return new PeerRepository(this.db.kysely);
  }

  /**
   * Pins a peer from its server-data file. `name` is the cluster name the file gives; the
   * peer is registered under `as` when given, else under that name. What identifies it is
   * its signing key: this server's own key, or one already registered, is refused whatever
   * the name; a name already used here by this server or another peer needs `as`.
   */
  async register(
    name: string,
    serverData: unknown,
    opts: { maxRate?: number | null; as?: string | undefined } = {},
  ): Promise<PeerRecord> {
    checkName('peer', name);
    const data = parseServerData(serverData);
    if (data.name !== name) {
      throw new IngotError('INVALID_ARGUMENT', `the server-data file describes ${data.name}, not ${name}`, {
        hint: `register it as --server ${data.name} (add --as LOCALNAME to know it here by another name)`,
      });
    }
    const local = opts.as === undefined ? name : checkName('peer', opts.as);
    const signingKeyId = keyId(data.signingKey);
    if (data.fingerprint === this.self.fingerprint || signingKeyId === this.self.keyId) {
      throw new IngotError('CONFLICT', 'that server-data file describes this server itself', {
        details: { keyId: signingKeyId },
        hint: `its ${data.fingerprint === this.self.fingerprint ? 'certificate' : 'signing key'} is this server's own; a server cannot be its own peer`,
      });
    }
    const repo = this.repo;
    const sameKey = await repo.bySigningKey(signingKeyId);
    if (sameKey && sameKey.name === local) {
      throw new IngotError('ALREADY_EXISTS', `peer ${local} is already registered`, {
        hint: `to trust a new certificate, run \`ingot unregister server --server ${local}\` first`,
      });
    }
    await this.checkPeerName(local, opts.as !== undefined);
    if (sameKey) {
      throw new IngotError('CONFLICT', `that signing key is already registered as peer ${sameKey.name}`, {
        details: { keyId: signingKeyId, peer: sameKey.name },
        hint: `a server is its key: it is peer ${sameKey.name} here already; unregister that one first to register it anew`,
      });
    }
    const holder = await repo.byFingerprint(data.fingerprint);
    if (holder)
      throw new IngotError('CONFLICT', `that certificate is already registered as peer ${holder.name}`);
    const record: PeerRecord = {
      name: local,
      clusterName: data.name,
      endpoint: data.endpoint,
      certPem: data.certificate,
      certFingerprint: data.fingerprint,
      signingKeyPem: data.signingKey,
      signingKeyId,
      maxRate: checkRate(opts.maxRate ?? null),
      registeredAt: this.now(),
      lastContactAt: null,
      allowUploads: false,
    };
    try {
      await repo.insert(record);
    } catch (err) {
      if (isUniqueViolation(err))
        throw new IngotError('ALREADY_EXISTS', `peer ${local} is already registered`);
      throw err;
    }
    await this.changed();
    return record;
  }

  /**
   * A peer's local name must be free. Without `--as` (`chosen` false) a name this server or
   * another peer holds is AMBIGUOUS_NAME: two servers may share a cluster name, so the new
   * one needs a local name. A name chosen with `--as` that is taken is refused as such.
   */
  private async checkPeerName(local: string, chosen: boolean): Promise<void> {
    const asHint = `register it under a local name: --server ${local} --as ${local}_2 (any free name); it is then --server ${local}_2 here`;
    if (local === this.self.name) {
      if (chosen) throw ownName(local);
      throw new IngotError('AMBIGUOUS_NAME', `${local} is also this server's own cluster name`, {
        details: { name: local, holder: 'this server' },
        hint: asHint,
      });
    }
    const peer = await this.repo.get(local);
    if (peer) {
      if (chosen) throw new IngotError('ALREADY_EXISTS', `peer ${local} is already registered`);
      throw new IngotError(
        'AMBIGUOUS_NAME',
        `${local} is already the name of another registered peer (key ${peer.signingKeyId.slice(0, 16)}…)`,
        {
          details: { name: local, holder: 'peer', keyId: peer.signingKeyId },
          hint: `${asHint}; if it is that peer with a new key, run \`ingot unregister server --server ${local}\` first`,
        },
      );
    }
    const host = await this.repo.host(local);
    if (host) throw taken(local, `a ${host.kind}`, 'peer (--as NAME)');
  }

  async unregister(name: string): Promise<PeerRecord> {
    const peer = await this.get(name);
    await this.repo.delete(name);
    await this.changed();
    for (const l of this.revokeListeners) await l(peer);
    return peer;
  }

  /**
   * Tells this node's listeners of peers registered or unregistered through another node of
   * the same catalog (each node builds its TLS context from the rows it read). The first
   * call only records what there is; a change seen twice (made through this node, then read
   * back) is told twice, which costs a TLS context and cuts nothing that is still trusted.
   */
  async reconcile(): Promise<void> {
    const now = new Map((await this.repo.list()).map((p) => [p.certFingerprint, p]));
    const before = this.known;
    this.known = now;
    if (!before) return;
    const gone = [...before.values()].filter((p) => !now.has(p.certFingerprint));
    const added = [...now.keys()].some((fp) => !before.has(fp));
    if (!added && gone.length === 0) return;
    await this.changed();
    for (const peer of gone) for (const l of this.revokeListeners) await l(peer);
  }

  async get(name: string): Promise<PeerRecord> {
    const peer = await this.repo.get(checkName('peer', name));
    if (!peer) {
      throw new IngotError('NOT_FOUND', `no peer named ${name} is registered`, {
        hint: 'see `ingot query peerserver`; register one with `ingot register server`',
      });
    }
    return peer;
  }

  /** The registered peer of that local name, if any (any string). */
  find(name: string): Promise<PeerRecord | undefined> {
    return this.repo.get(name);
  }

  /** The registered peer whose signing key has this id, if any. */
  bySigningKey(keyId: string): Promise<PeerRecord | undefined> {
    return this.repo.bySigningKey(keyId);
  }

  /** The registered peers that call themselves `clusterName` (an origin a manifest names). */
  byClusterName(clusterName: string): Promise<PeerRecord[]> {
    return this.repo.byClusterName(clusterName);
  }

  list(): Promise<PeerRecord[]> {
    return this.repo.list();
  }

  /**
   * The registered peer that owns this TLS certificate, if any: what every peer request asks
   * first, so it is read from the catalog at most once per IDENTITY_MS (a transfer's requests
   * cost one query a second, not one each). A write through this node voids what was read; a
   * write through another one is seen within IDENTITY_MS, and a peer unregistered there has
   * its connections cut within a scheduler tick (reconcile).
   */
  async byFingerprint(fingerprint: string): Promise<PeerRecord | undefined> {
    const known = this.identities.get(fingerprint);
    if (known && this.clock.now().getTime() - known.at < IDENTITY_MS) return known.peer;
    const peer = await this.repo.byFingerprint(fingerprint);
    if (this.identities.size >= MAX_IDENTITIES) this.identities.clear();
    if (peer) this.identities.set(fingerprint, { peer, at: this.clock.now().getTime() });
    return peer;
  }

  async setMaxRate(name: string, maxRate: number | null): Promise<PeerRecord> {
    await this.get(name);
    await this.repo.setMaxRate(name, checkRate(maxRate));
    await this.changed();
    return this.get(name);
  }

  async setAllowUploads(name: string, allow: boolean): Promise<PeerRecord> {
    await this.get(name);
    await this.repo.setAllowUploads(name, allow);
    this.identities.clear();
    return this.get(name);
  }

  /** False when this request was recorded already. */
  subscribe(name: string, filter: string): Promise<boolean> {
    return this.repo.subscribe(name, filter, this.now());
  }

  async unsubscribe(name: string, filter: string): Promise<void> {
    await this.repo.unsubscribe(name, filter);
  }

  subscriptions(name: string): Promise<string[]> {
    return this.repo.subscriptions(name);
  }

  async touch(name: string): Promise<void> {
    await this.repo.touch(name, this.now());
  }

  // ---- clients and targets: the names peers may not take

  async addHost(kind: HostKind, name: string, description = ''): Promise<HostRecord> {
    checkName(kind, name);
    await this.checkFreeName(name, kind);
    const record: HostRecord = { name, kind, description, createdAt: this.now() };
    try {
      await this.repo.insertHost(record);
    } catch (err) {
      if (isUniqueViolation(err)) throw taken(name, 'a client or target');
      throw err;
    }
    return record;
  }

  async deleteHost(kind: HostKind, name: string): Promise<void> {
    if (!(await this.repo.deleteHost(name, kind))) {
      throw new IngotError('NOT_FOUND', `no ${kind} named ${name}`, { hint: `see \`ingot query ${kind}\`` });
    }
  }

  listHosts(kind?: HostKind): Promise<HostRecord[]> {
    return this.repo.hosts(kind);
  }

  /** Peers, clients and targets share one namespace, and none may be this server's name. */
  private async checkFreeName(name: string, asKind: HostKind): Promise<void> {
    if (name === this.self.name) throw ownName(name);
    const host = await this.repo.host(name);
    if (host) throw taken(name, `a ${host.kind}`, asKind);
    if (await this.repo.get(name)) throw taken(name, 'a peer', asKind);
  }

  private async changed(): Promise<void> {
    this.identities.clear();
    for (const l of this.changeListeners) await l();
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function ownName(name: string): IngotError {
  return new IngotError('CONFLICT', `${name} is this server's own cluster name`, {
    hint: 'pick another name: this server is known here by its own',
  });
}

function taken(name: string, holder: string, asKind?: string): IngotError {
  return new IngotError('CONFLICT', `the name ${name} is already taken by ${holder} of this server`, {
    hint: `peers, clients and targets share one namespace${asKind ? `; pick another name for the ${asKind}` : ''}`,
  });
}

function checkRate(rate: number | null): number | null {
  if (rate === null) return null;
  if (!Number.isSafeInteger(rate) || rate < 1024) {
    throw new IngotError('INVALID_ARGUMENT', `a rate cap must be at least 1024 bytes/s, not ${rate}`, {
      hint: 'e.g. --max-rate 20M (20 MiB/s)',
    });
  }
  return rate;
}

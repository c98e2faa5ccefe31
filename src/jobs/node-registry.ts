/**
 * The nodes of one server (docs/design.md, "Many nodes"). Every `ingot serve` on a catalog
 * is a node: it records itself, beats from the scheduler tick, reads back the state any
 * node may set (a drain), and competes for the leader lease. On PostgreSQL the leader is
 * whoever holds the `leader` row's lease; on SQLite (one process on one file) this node
 * always is. A node silent for a few lease times is dead: the leader hands its jobs back.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import type { Db } from '../db/database.js';
import type { NodeState } from '../db/schema.js';
import { type IdentityRow, NodeRepository, type NodeRow } from './node.repository.js';

/** How long a leader lease lasts; renewed at every tick (a second). */
export const LEADER_LEASE_MS = 3000;
/** A node whose last heartbeat is older than this is dead: three lease times. */
export const NODE_DEAD_AFTER_MS = 3 * LEADER_LEASE_MS;
const LEADER = 'leader';
/** The node id that names the node answering the request. */
const SELF = 'self';

export type NodeHealth = NodeState | 'dead';

/** A node as `ingot nodes` and GET /api/v1/nodes show it. */
export interface NodeRecord {
  id: string;
  api: string;
  peer: string;
  version: string;
  state: NodeState;
  /** Its state, or `dead` when it stopped beating without saying so. */
  health: NodeHealth;
  leader: boolean;
  startedAt: string;
  lastSeen: string;
  /** The running jobs it holds the lease of. */
  jobs: number[];
}

export interface NodeSelf {
  /** Also its job lease owner (`host:pid`). */
  readonly id: string;
  readonly version: string;
  readonly identity: IdentityRow;
}

export interface NodeLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class NodeRegistry {
  private readonly repo: NodeRepository;
  private readonly clock: Clock;
  private readonly alwaysLeader: boolean;
  private leading = false;
  private drainingNow = false;
  /** Until when this node leaves the leader lease to others (a hand-over). */
  private holdOffUntil = 0;

  constructor(
    db: Db,
    private readonly self: NodeSelf,
    private readonly logger?: NodeLogger,
    clock: Clock = systemClock,
  ) {
    this.repo = new NodeRepository(db.kysely);
    this.clock = clock;
    this.alwaysLeader = db.dialect === 'sqlite';
    this.leading = this.alwaysLeader;
  }

  get id(): string {
    return this.self.id;
  }

  /** Whether this node runs the singleton work now. */
  get leader(): boolean {
    return this.leading;
  }

  /** Whether this node is drained: it takes no jobs and fails its health check. */
  get draining(): boolean {
    return this.drainingNow;
  }

  /**
   * Records this node as starting, after checking it belongs to the catalog: another
   * cluster name or other keys than the first node recorded is refused before any write.
   */
  async join(): Promise<void> {
    const now = this.now();
    const recorded = await this.repo.recordIdentity(this.self.identity, now);
    const mismatch = identityMismatch(recorded, this.self.identity);
    if (mismatch) throw mismatch;
    await this.repo.upsert({
      id: this.self.id,
      api_url: '',
      peer_url: '',
      version: this.self.version,
      state: 'starting',
      started_at: now,
      heartbeat_at: now,
    });
  }

  /** Listening: the node's addresses are known and it takes work. */
  async serving(api: string, peer: string): Promise<void> {
    const row = await this.repo.get(this.self.id);
    if (!row) throw new IngotError('INTERNAL', `node ${this.self.id} has no row; join first`);
    await this.repo.upsert({
      ...row,
      api_url: api,
      peer_url: peer,
      state: 'serving',
      heartbeat_at: this.now(),
    });
    await this.tick();
  }

  /** One heartbeat: records it, reads back the state, and takes or renews the leader lease. */
  async tick(): Promise<void> {
    const now = this.clock.now();
    const state = await this.repo.beat(this.self.id, now.toISOString());
    this.drainingNow = state === 'draining';
    if (this.alwaysLeader) return;
    if (now.getTime() < this.holdOffUntil) return this.leads(false);
    const until = new Date(now.getTime() + LEADER_LEASE_MS).toISOString();
    this.leads(await this.repo.acquire(LEADER, this.self.id, now.toISOString(), until).catch(() => false));
  }

  /**
   * Lets the leader lease go and leaves it to the other nodes for two lease times (the
   * roll's leader, before its own step); taken back after that if no other node took it.
   */
  async handOver(): Promise<void> {
    if (this.alwaysLeader) return;
    this.holdOffUntil = this.clock.now().getTime() + 2 * LEADER_LEASE_MS;
    await this.repo.release(LEADER, this.self.id, this.now());
    this.leads(false);
  }

  /** A tick that failed (the database did not answer): the lease is not ours to trust. */
  lostContact(): void {
    if (!this.alwaysLeader) this.leads(false);
  }

  /** The leader's part: the jobs of dead nodes go back to the queue now; how many. */
  async reapDead(): Promise<number> {
    const now = this.clock.now();
    return this.repo.expireJobsOfSilent(this.deadline(now), now.toISOString());
  }

  forgetSilent(before: Date): Promise<number> {
    return this.repo.forgetSilent(before.toISOString());
  }

  /** Stopping: marks this node stopped and lets the leader lease go at once. */
  async leave(): Promise<void> {
    const now = this.now();
    await this.repo.setState(this.self.id, 'stopped', []);
    if (!this.alwaysLeader) await this.repo.release(LEADER, this.self.id, now);
    this.leading = false;
  }

  async list(): Promise<{ nodes: NodeRecord[]; leader: string | null }> {
    const now = this.clock.now();
    const [rows, held, lease] = await Promise.all([
      this.repo.list(),
      this.repo.heldJobs(),
      this.alwaysLeader ? undefined : this.repo.holder(LEADER, now.toISOString()),
    ]);
    const leader = this.alwaysLeader ? this.self.id : (lease?.holder ?? null);
    const deadline = this.deadline(now);
    const nodes = rows.map((r) => ({
      ...toRecord(r, r.id === leader, r.heartbeat_at < deadline),
      jobs: held.filter((j) => j.lease_owner === r.id).map((j) => Number(j.id)),
    }));
    return { nodes, leader };
  }

  async get(id: string): Promise<NodeRecord> {
    const found = (await this.list()).nodes.find((n) => n.id === id);
    if (!found) throw unknownNode(id);
    return found;
  }

  /** Drains a running node (any node's, set in the catalog; the node itself sees it at its next tick). */
  drain(id: string): Promise<NodeRecord> {
    return this.setState(id, 'draining');
  }

  undrain(id: string): Promise<NodeRecord> {
    return this.setState(id, 'serving');
  }

  private async setState(named: string, state: 'draining' | 'serving'): Promise<NodeRecord> {
    const id = named === SELF ? this.self.id : named;
    const before = await this.get(id);
    if (before.health !== 'serving' && before.health !== 'draining') {
      throw new IngotError('CONFLICT', `node ${id} is ${before.health}; only a running node can be drained`, {
        details: { state: before.state, health: before.health, lastSeen: before.lastSeen },
        hint: 'see the nodes with: ingot nodes',
      });
    }
    await this.repo.setState(id, state, ['stopped', 'starting']);
    if (id === this.self.id) this.drainingNow = state === 'draining';
    this.logger?.info({ node: id, state }, state === 'draining' ? 'node drained' : 'node undrained');
    return this.get(id);
  }

  private leads(now: boolean): void {
    if (now !== this.leading) {
      this.logger?.[now ? 'info' : 'warn'](
        { node: this.self.id },
        now ? 'became the leader' : 'lost the leadership',
      );
    }
    this.leading = now;
  }

  private deadline(now: Date): string {
    return new Date(now.getTime() - NODE_DEAD_AFTER_MS).toISOString();
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function toRecord(r: NodeRow, leader: boolean, silent: boolean): Omit<NodeRecord, 'jobs'> {
  return {
    id: r.id,
    api: r.api_url,
    peer: r.peer_url,
    version: r.version,
    state: r.state,
    health: r.state !== 'stopped' && silent ? 'dead' : r.state,
    leader,
    startedAt: r.started_at,
    lastSeen: r.heartbeat_at,
  };
}

function identityMismatch(recorded: IdentityRow, mine: IdentityRow): IngotError | undefined {
  const differs = (Object.keys(mine) as (keyof IdentityRow)[]).filter((k) => recorded[k] !== mine[k]);
  if (differs.length === 0) return undefined;
  return new IngotError(
    'IDENTITY_MISMATCH',
    `this catalog belongs to server ${recorded.cluster_name}; this node (${mine.cluster_name}) differs in ${differs.join(', ')}`,
    {
      details: { recorded, node: mine },
      hint: "start every node of one server with the same --name and a copy of the first node's INGOT_HOME/keys/, or give this server a database of its own",
    },
  );
}

function unknownNode(id: string): IngotError {
  return new IngotError('NOT_FOUND', `no node ${JSON.stringify(id)}`, {
    hint: 'see the nodes with: ingot nodes',
  });
}

/**
 * The rolling self-update (docs/design.md, "Rolling self-update"). `activate` writes a plan
 * and a step per node; the leader's tick (`drive`) moves the first unfinished step on, one
 * move a tick, reading everything from the rows, so a new leader resumes where the old one
 * stopped: drain the node, leave the balancer `drain_ms` to stop sending, ask the node to
 * install and restart, wait until its row says it serves on the new version. The leader's
 * own step is last; it hands the lease to another node first. The node's side (install,
 * restart, roll back) is src/main/self-restart.ts.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import type { Db } from '../db/database.js';
import type { NodeRecord, NodeRegistry } from './node-registry.js';
import type { ReleaseService } from './release.service.js';
import { type PlanRow, type StepRow, UpdatePlanRepository } from './update-plan.repository.js';

/** How long a node has, once asked, to install the release and serve on it. */
export const RESTART_TIMEOUT_MS = 120_000;
export const DEFAULT_DRAIN_SECONDS = 5;

export interface RollPlan {
  id: number | null;
  version: string;
  sha256: string;
  leader: string;
  state: 'running' | 'done' | 'failed' | 'dry-run';
  drainSeconds: number;
  error: string | null;
  createdAt: string;
  endedAt: string | null;
  steps: RollStep[];
}

export interface RollStep {
  seq: number;
  node: string;
  fromVersion: string;
  state: StepRow['state'];
  error: string | null;
  startedAt: string | null;
  updatedAt: string;
  endedAt: string | null;
}

export interface RollDeps {
  readonly db: Db;
  readonly nodes: NodeRegistry;
  readonly releases: ReleaseService;
  /** The running release's package.json dependencies: a release must need the same. */
  readonly dependencies: Record<string, string>;
  readonly logger?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  readonly clock?: Clock;
}

export class RollService {
  private readonly repo: UpdatePlanRepository;
  private readonly clock: Clock;

  constructor(private readonly deps: RollDeps) {
    this.repo = new UpdatePlanRepository(deps.db.kysely);
    this.clock = deps.clock ?? systemClock;
  }

  async activate(version: string, opts: { dryRun?: boolean; drainSeconds?: number } = {}): Promise<RollPlan> {
    const release = await this.deps.releases.row(version);
    const differs = dependencyChanges(JSON.parse(release.dependencies), this.deps.dependencies);
    if (differs.length > 0) {
      throw new IngotError(
        'CONFLICT',
        `release ${version} needs other dependencies than this one: ${differs.join(', ')}`,
        {
          details: { changed: differs },
          hint: 'a roll reuses the running release node_modules; install a release with new dependencies on each node with npm',
        },
      );
    }
    const running = await this.repo.running();
    if (running) throw rollRunning(running);
    const { nodes, leader } = await this.deps.nodes.list();
    const order = nodes
      .filter((n) => n.health === 'serving' && n.version !== version)
      .sort((a, b) => Number(a.id === leader) - Number(b.id === leader) || a.id.localeCompare(b.id));
    if (order.length === 0) {
      throw new IngotError('CONFLICT', `every serving node runs ${version} already`, {
        hint: 'see the nodes with: ingot nodes',
      });
    }
    const now = this.now();
    const drainMs = Math.round((opts.drainSeconds ?? DEFAULT_DRAIN_SECONDS) * 1000);
    const plan = {
      version,
      sha256: release.sha256,
      leader: leader ?? this.deps.nodes.id,
      drain_ms: drainMs,
      created_at: now,
    };
    const steps = order.map((n, seq) => stepOf(n, seq, now));
    if (opts.dryRun) {
      return toPlan(
        { ...plan, id: 0, state: 'running', error: null, ended_at: null },
        steps.map((s) => ({ ...s, plan_id: 0 })),
        true,
      );
    }
    const id = await this.repo.create(plan, steps).catch(async (err: unknown) => {
      const other = await this.repo.running();
      throw other ? rollRunning(other) : err;
    });
    this.deps.logger?.info({ plan: id, version, nodes: order.map((n) => n.id) }, 'roll planned');
    return (await this.latest()) as RollPlan;
  }

  /** The latest roll with its steps as recorded; undefined before the first. */
  async latest(): Promise<RollPlan | null> {
    const plan = await this.repo.latest();
    return plan ? toPlan(plan, await this.repo.steps(plan.id)) : null;
  }

  /** The leader's tick: one move of the running roll, if there is one. */
  async drive(): Promise<void> {
    const plan = await this.repo.running();
    if (!plan) return;
    const steps = await this.repo.steps(plan.id);
    const step = steps.find((s) => s.state !== 'done');
    if (!step) return this.end(plan, 'done', null);
    if (step.state === 'failed') return this.end(plan, 'failed', `${step.node_id}: ${step.error}`);
    const node = (await this.deps.nodes.list()).nodes.find((n) => n.id === step.node_id);
    if (!node || node.health === 'dead' || node.health === 'stopped') {
      if (step.state === 'pending' || step.state === 'draining') {
        return this.fail(plan, step, `node ${step.node_id} is ${node?.health ?? 'gone'}`);
      }
    }
    if (step.state === 'pending') return this.startStep(plan, step, steps.length);
    if (step.state === 'draining') return this.afterDrain(plan, step, node);
    return this.awaitRestart(plan, step, node);
  }

  /** The node's side: the step asking this node to install now, claimed (install → restarting). */
  async claimInstall(node: string): Promise<{ plan: PlanRow; step: StepRow } | undefined> {
    const found = await this.repo.installFor(node);
    if (!found) return undefined;
    return (await this.repo.move(found.step, 'install', 'restarting', this.now())) ? found : undefined;
  }

  /** The node's side: its step failed (and it is back on its old release, or about to be). */
  async failed(step: Pick<StepRow, 'plan_id' | 'seq'>, from: StepRow['state'], why: string): Promise<void> {
    const now = this.now();
    await this.repo.move(step, from, 'failed', now, { error: why, ended_at: now });
  }

  private async startStep(plan: PlanRow, step: StepRow, total: number): Promise<void> {
    const self = this.deps.nodes.id;
    if (step.node_id === self && total > 1 && step.seq > 0) {
      // The leader goes last, after another node (updated by now) takes the lease.
      this.deps.logger?.info({ plan: plan.id }, 'handing the leadership over for its own step of the roll');
      return this.deps.nodes.handOver();
    }
    if (step.node_id !== self || total > 1) await this.deps.nodes.drain(step.node_id);
    await this.repo.move(step, 'pending', 'draining', this.now(), { started_at: this.now() });
  }

  private async afterDrain(plan: PlanRow, step: StepRow, node: NodeRecord | undefined): Promise<void> {
    const waited = this.clock.now().getTime() - Date.parse(step.started_at ?? step.updated_at);
    if (waited < plan.drain_ms || (node?.jobs.length ?? 0) > 0) return;
    await this.repo.move(step, 'draining', 'install', this.now());
  }

  private async awaitRestart(plan: PlanRow, step: StepRow, node: NodeRecord | undefined): Promise<void> {
    if (node?.version === plan.version && node.health === 'serving') {
      await this.repo.move(step, step.state, 'done', this.now(), { ended_at: this.now() });
      this.deps.logger?.info({ plan: plan.id, node: step.node_id, version: plan.version }, 'node updated');
      return;
    }
    const since = Date.parse(step.updated_at);
    if (this.clock.now().getTime() - since > RESTART_TIMEOUT_MS) {
      await this.fail(plan, step, `did not serve on ${plan.version} within ${RESTART_TIMEOUT_MS / 1000} s`);
    }
  }

  private async fail(plan: PlanRow, step: StepRow, why: string): Promise<void> {
    await this.failed(step, step.state, why);
    await this.end(plan, 'failed', `${step.node_id}: ${why}`);
  }

  private async end(plan: PlanRow, state: 'done' | 'failed', error: string | null): Promise<void> {
    await this.repo.end(plan.id, state, this.now(), error);
    this.deps.logger?.[state === 'done' ? 'info' : 'warn'](
      { plan: plan.id, version: plan.version, error },
      `roll ${state}`,
    );
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function stepOf(n: NodeRecord, seq: number, now: string): Omit<StepRow, 'plan_id'> {
  return {
    seq,
    node_id: n.id,
    from_version: n.version,
    state: 'pending',
    error: null,
    started_at: null,
    updated_at: now,
    ended_at: null,
  };
}

function dependencyChanges(wanted: Record<string, string>, running: Record<string, string>): string[] {
  const names = new Set([...Object.keys(wanted), ...Object.keys(running)]);
  return [...names]
    .filter((n) => wanted[n] !== running[n])
    .map((n) => `${n} ${running[n] ?? '-'} -> ${wanted[n] ?? '-'}`);
}

function rollRunning(plan: PlanRow): IngotError {
  return new IngotError('CONFLICT', `a roll to ${plan.version} is running (plan ${plan.id})`, {
    details: { plan: plan.id, version: plan.version },
    hint: 'follow it with: ingot update status',
  });
}

function toPlan(p: PlanRow, steps: readonly StepRow[], dryRun = false): RollPlan {
  return {
    id: dryRun ? null : Number(p.id),
    version: p.version,
    sha256: p.sha256,
    leader: p.leader,
    state: dryRun ? 'dry-run' : p.state,
    drainSeconds: Number(p.drain_ms) / 1000,
    error: p.error,
    createdAt: p.created_at,
    endedAt: p.ended_at,
    steps: steps.map((s) => ({
      seq: Number(s.seq),
      node: s.node_id,
      fromVersion: s.from_version,
      state: s.state,
      error: s.error,
      startedAt: s.started_at,
      updatedAt: s.updated_at,
      endedAt: s.ended_at,
    })),
  };
}

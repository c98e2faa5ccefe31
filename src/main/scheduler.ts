/**
 * The scheduler tick of a node, once a second: the node's heartbeat (which also takes or
 * renews the leader lease), the records of transfers peers run with this node, and, on
 * the leader only, the singleton work: followings that fall due become sync jobs, the
 * retention pass, and the jobs of dead nodes handed back to the queue. Ticks never overlap.
 */
import type pino from 'pino';
import type { Metrics } from '../api/metrics.js';
import type { NodeRegistry } from '../jobs/node-registry.js';

export const SCHEDULER_TICK_MS = 1000;

export interface SchedulerDeps {
  readonly nodes: NodeRegistry;
  readonly metrics: Metrics;
  readonly logger: pino.Logger;
  /** Work every node does at each tick. */
  readonly everyNode: readonly Tickable[];
  /** Work only the leader does. */
  readonly leaderOnly: readonly Tickable[];
}

export interface Tickable {
  readonly what: string;
  tick(): Promise<unknown>;
}

/** The leader's hand-back of the jobs dead nodes held. */
export function deadNodeReaping(nodes: NodeRegistry, logger: pino.Logger): Tickable {
  return {
    what: 'dead node reaping',
    async tick() {
      const jobs = await nodes.reapDead();
      if (jobs > 0) logger.warn({ jobs }, 'handed the jobs of dead nodes back to the queue');
    },
  };
}

/** Starts the tick; the answer stops it and waits for a tick in flight. */
export function startScheduler(deps: SchedulerDeps): () => Promise<void> {
  let current: Promise<void> = Promise.resolve();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    current = tick(deps).finally(() => {
      busy = false;
    });
  }, SCHEDULER_TICK_MS);
  return async () => {
    clearInterval(timer);
    await current;
  };
}

async function tick(deps: SchedulerDeps): Promise<void> {
  const { nodes, logger } = deps;
  try {
    await nodes.tick();
  } catch (err) {
    nodes.lostContact();
    logger.error({ err }, 'node heartbeat failed');
  }
  const work = nodes.leader ? [...deps.everyNode, ...deps.leaderOnly] : deps.everyNode;
  if (nodes.leader) deps.metrics.leaderTicks.inc();
  await Promise.all(
    work.map(async (w) => {
      try {
        await w.tick();
      } catch (err) {
        logger.error({ err }, `${w.what} failed`);
      }
    }),
  );
}

/**
 * The hourly retention pass of a server: rows past their days (the audit, ended jobs and
 * transfer records) dropped by the scheduler, one pass at a time.
 */
import type pino from 'pino';
import type { AuditLog } from '../access/index.js';
import type { PeerTransfers } from '../federation/peer-transfers.js';
import type { WriteGrantRepository } from '../federation/write-grant.repository.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { NodeRegistry } from '../jobs/node-registry.js';
import type { TransferRepository } from '../transfer/transfer.repository.js';

const RETENTION_EVERY_MS = 3_600_000;

/** What a retention drops: rows older than its days (0: none). */
export interface Retained {
  readonly what: string;
  readonly days: number;
  drop(before: Date): Promise<number>;
}

/** Drops rows past their retention: on the first tick, then hourly, one pass at a time. */
export function retention(kinds: readonly Retained[], logger: pino.Logger): () => void {
  let due = 0;
  let running = false;
  const pass = async (now: number) => {
    for (const k of kinds) {
      if (k.days === 0) continue;
      const rows = await k.drop(new Date(now - k.days * 86_400_000));
      if (rows > 0) logger.info({ rows, days: k.days }, `dropped ${k.what} past their retention`);
    }
  };
  return () => {
    const now = Date.now();
    if (running || now < due) return;
    due = now + RETENTION_EVERY_MS;
    running = true;
    pass(now)
      .catch((err: unknown) => logger.error({ err }, 'retention pass failed'))
      .finally(() => {
        running = false;
      });
  };
}

/** What a server keeps to its days: the audit and history by its settings, the rest a day. */
export function serverRetention(
  d: {
    readonly days: { readonly audit: number; readonly history: number };
    readonly audit: AuditLog;
    readonly transfers: TransferRepository;
    readonly jobs: JobQueue;
    readonly served: PeerTransfers;
    readonly nodes: NodeRegistry;
    readonly writeGrants: WriteGrantRepository;
  },
  logger: pino.Logger,
): () => void {
  return retention(
    [
      { what: 'audit rows', days: d.days.audit, drop: (before) => d.audit.prune(before) },
      {
        what: 'ended jobs and their transfer records',
        days: d.days.history,
        // A transfer's row names its job: rows first, so no listed row lacks its job.
        drop: async (before) =>
          (await d.transfers.deleteOfEndedJobs(before.toISOString())) + (await d.jobs.forgetEnded(before)),
      },
      {
        what: 'records of transfers peers ran here',
        days: d.days.history,
        drop: (b) => d.served.forgetEnded(b),
      },
      { what: 'nodes silent for a day', days: 1, drop: (b) => d.nodes.forgetSilent(b) },
      { what: 'write grants of pushes left unfinished', days: 1, drop: (b) => d.writeGrants.prune(b) },
    ],
    logger,
  );
}

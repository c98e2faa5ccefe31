/**
 * The hourly retention pass of a server: rows past their days (the audit, ended jobs and
 * transfer records) dropped by the scheduler, one pass at a time.
 */
import type pino from 'pino';

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

/** Pure merging of the events stream into the lists the pages loaded. */
import type { Activity, ServedTransfer, Transfer } from './types.js';

/** `rows` with each row that `live` also carries replaced by the live one, and live rows not yet listed first. */
export function mergeLive<T>(rows: readonly T[], live: readonly T[], key: (t: T) => number): T[] {
  const byKey = new Map(live.map((t) => [key(t), t]));
  const seen = new Set<number>();
  const merged = rows.map((r) => {
    const k = key(r);
    seen.add(k);
    return byKey.get(k) ?? r;
  });
  return [...live.filter((t) => !seen.has(key(t))), ...merged];
}

/** The job states that never change again (the server's isFinalJobState). */
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * Whether something the page showed as running has left the stream, or a job has ended
 * since the last reading (one that began and ended between two readings was never shown
 * running), so the lists are read again.
 */
export function finishedSince(before: Activity | undefined, now: Activity): boolean {
  if (!before) return false;
  const was = new Map(before.recent.map((j) => [j.id, j.state]));
  if (now.recent.some((j) => FINAL.has(j.state) && was.get(j.id) !== j.state)) return true;
  const ids = (a: Activity) => [
    ...a.transfers.map((t: Transfer) => `t${t.jobId}`),
    ...a.served.map((t: ServedTransfer) => `s${t.id}`),
    ...a.jobs.map((j) => `j${j.id}`),
  ];
  const still = new Set(ids(now));
  return ids(before).some((id) => !still.has(id));
}

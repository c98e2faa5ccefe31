/** Pure formatting for the pages: no DOM, no clock but the one passed in. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; whole bytes below 1 KiB. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const s = u === 0 ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${n < 0 ? '-' : ''}${s} ${UNITS[u]}`;
}

/** Bytes per second as "2.00 MiB/s"; "—" when not known. */
export function formatRate(bytesPerSecond: number | null | undefined): string {
  if (bytesPerSecond === null || bytesPerSecond === undefined) return '—';
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** 3.456 → "3.46×"; "—" when not known. */
export function formatRatio(r: number | null | undefined): string {
  return r === null || r === undefined || !Number.isFinite(r) ? '—' : `${r.toFixed(2)}×`;
}

/** done of total as a whole percent, 0-100; 100 when there is nothing to do. */
export function percent(done: number, total: number): number {
  if (!(total > 0)) return 100;
  return Math.max(0, Math.min(100, Math.floor((done / total) * 100)));
}

/** How long ago `iso` was, from `now` (ms): "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(s)) return '—';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** Page `page` (0-based) of `size` rows out of `total`: "51–100 of 10000", the offset, and the last page. */
export function pageOf(page: number, size: number, total: number) {
  const last = Math.max(0, Math.ceil(total / size) - 1);
  const p = Math.max(0, Math.min(page, last));
  const offset = p * size;
  const label = total === 0 ? '0 of 0' : `${offset + 1}–${Math.min(total, offset + size)} of ${total}`;
  return { page: p, offset, last, label };
}

/** A job's error as stored (the registry's JSON, or plain text) as one line: "CODE: message". */
export function errorText(stored: string | null | undefined): string {
  if (!stored) return '';
  try {
    const e = JSON.parse(stored) as { code?: string; message?: string };
    if (e && typeof e === 'object' && e.message) return e.code ? `${e.code}: ${e.message}` : e.message;
  } catch {
    // plain text
  }
  return stored;
}

/** A follower's interval in seconds as the CLI takes it: 900 → "15m", 7200 → "2h", 90 → "90s". */
export function formatEvery(seconds: number): string {
  if (seconds > 0 && seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds > 0 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** An exact byte count with thousands separated, as a dry run states it: 1234567 → "1,234,567 bytes". */
export function exactBytes(n: number): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? 'byte' : 'bytes'}`;
}

/** The kinds of job whose progress counts bytes; the others (gc, verify) count their own units. */
const BYTE_JOBS = new Set(['transfer', 'sync', 'import', 'ingest', 'snapshot-export', 'bundle-import']);

/** A job's progress as the Jobs table shows it: "2.00 MiB / 6.00 MiB", "3 / 10", or "—". */
export function jobProgress(j: { kind: string; progressDone: number; progressTotal: number }): string {
  if (!(j.progressTotal > 0)) return '—';
  return BYTE_JOBS.has(j.kind)
    ? `${formatBytes(j.progressDone)} / ${formatBytes(j.progressTotal)}`
    : `${j.progressDone} / ${j.progressTotal}`;
}

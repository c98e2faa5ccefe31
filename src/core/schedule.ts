import { IngotError } from './errors.js';

/**
 * Schedules of followers: an interval (`15m`) and an optional daily window (`22:00-06:00`,
 * server local time, may wrap past midnight). A sync starts only inside its window.
 */
export interface DailyWindow {
  /** Minutes after local midnight. */
  readonly start: number;
  readonly end: number;
}

/** A duration in seconds: a number, with s, m, h or d (seconds without one); 0 is allowed. */
export function parseDuration(value: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(value.trim());
  if (!m) throw invalidDuration(value);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

/** A follower's interval: a duration longer than 0. */
export function parseInterval(value: string): number {
  const n = parseDuration(value);
  if (!(n > 0)) throw invalidDuration(value);
  return n;
}

function invalidDuration(value: string): IngotError {
  return new IngotError('INVALID_ARGUMENT', `invalid duration ${JSON.stringify(value)}`, {
    hint: 'a number with s, m, h or d, e.g. 30s, 15m, 2h, 1d',
  });
}

export function parseWindow(value: string): DailyWindow {
  const m = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(value.trim());
  const nums = m ? m.slice(1).map(Number) : [];
  const [h1, m1, h2, m2] = nums as [number, number, number, number];
  if (!m || h1 > 23 || h2 > 24 || m1 > 59 || m2 > 59 || (h2 === 24 && m2 > 0)) {
    throw new IngotError('INVALID_ARGUMENT', `invalid window ${JSON.stringify(value)}`, {
      hint: 'HH:MM-HH:MM in server local time, e.g. 22:00-06:00 (may wrap past midnight)',
    });
  }
  const w = { start: h1 * 60 + m1, end: h2 * 60 + m2 };
  if (w.start === w.end) throw new IngotError('INVALID_ARGUMENT', `window ${value} is empty`);
  return w;
}

export function formatWindow(w: DailyWindow): string {
  const f = (n: number) =>
    `${String(Math.floor(n / 60)).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}`;
  return `${f(w.start)}-${f(w.end)}`;
}

function minuteOfDay(at: Date): number {
  return at.getHours() * 60 + at.getMinutes();
}

export function inWindow(w: DailyWindow, at: Date): boolean {
  const m = minuteOfDay(at);
  return w.start < w.end ? m >= w.start && m < w.end : m >= w.start || m < w.end;
}

/** The next moment the window opens, strictly after `at` when it is closed now. */
export function nextOpening(w: DailyWindow, at: Date): Date {
  if (inWindow(w, at)) return at;
  const next = new Date(at);
  next.setSeconds(0, 0);
  next.setHours(Math.floor(w.start / 60), w.start % 60);
  if (next <= at) next.setDate(next.getDate() + 1);
  return next;
}

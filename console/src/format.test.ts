import { describe, expect, it } from 'vitest';
import {
  ago,
  errorText,
  exactBytes,
  formatBytes,
  formatEvery,
  formatRate,
  formatRatio,
  jobProgress,
  pageOf,
  percent,
} from './format.js';
import { finishedSince, mergeLive } from './live.js';

describe('format', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.50 KiB'],
    [2 * 1024 * 1024, '2.00 MiB'],
    [15.5 * 1024 ** 3, '15.5 GiB'],
    [300 * 1024 ** 4, '300 TiB'],
  ])('formatBytes(%d) is %s', (n, s) => expect(formatBytes(n)).toBe(s));

  it('says — for what is not known', () => {
    expect(formatBytes(null)).toBe('—');
    expect(formatRate(null)).toBe('—');
    expect(formatRatio(null)).toBe('—');
    expect(ago(null, 0)).toBe('—');
    expect(formatRate(2 * 1024 * 1024)).toBe('2.00 MiB/s');
    expect(formatRatio(3.456)).toBe('3.46×');
  });

  it('percent stays within 0-100 and is 100 with nothing to do', () => {
    expect(percent(1, 3)).toBe(33);
    expect(percent(5, 4)).toBe(100);
    expect(percent(0, 0)).toBe(100);
  });

  it('ago counts back from now', () => {
    const now = Date.parse('2026-01-02T00:00:00Z');
    expect(ago('2026-01-01T23:59:48Z', now)).toBe('12 s ago');
    expect(ago('2026-01-01T23:55:00Z', now)).toBe('5 min ago');
    expect(ago('2026-01-01T21:00:00Z', now)).toBe('3 h ago');
    expect(ago('2025-12-30T00:00:00Z', now)).toBe('3 d ago');
  });

  it('pageOf clamps the page and labels the rows', () => {
    expect(pageOf(1, 50, 10_000)).toEqual({ page: 1, offset: 50, last: 199, label: '51–100 of 10000' });
    expect(pageOf(9, 50, 120)).toEqual({ page: 2, offset: 100, last: 2, label: '101–120 of 120' });
    expect(pageOf(0, 50, 0).label).toBe('0 of 0');
  });

  it("errorText reads the registry's JSON or plain text", () => {
    expect(errorText('{"code":"UNAVAILABLE","message":"peer down"}')).toBe('UNAVAILABLE: peer down');
    expect(errorText('just text')).toBe('just text');
    expect(errorText(null)).toBe('');
  });
});

describe('live', () => {
  it('mergeLive replaces listed rows with live ones and puts new live rows first', () => {
    const rows = [
      { id: 2, v: 'old' },
      { id: 1, v: 'done' },
    ];
    const live = [
      { id: 3, v: 'new' },
      { id: 2, v: 'live' },
    ];
    expect(mergeLive(rows, live, (r) => r.id).map((r) => r.v)).toEqual(['new', 'live', 'done']);
  });

  it('finishedSince sees a running row leave the stream', () => {
    const t = { jobId: 7 } as never;
    const a = { transfers: [t], served: [], jobs: [], recent: [] };
    const b = { transfers: [], served: [], jobs: [], recent: [] };
    expect(finishedSince(undefined, a)).toBe(false);
    expect(finishedSince(a, a)).toBe(false);
    expect(finishedSince(a, b)).toBe(true);
  });

  it('finishedSince sees a job that began and ended between two readings', () => {
    const idle = {
      transfers: [],
      served: [],
      jobs: [],
      recent: [{ id: 6, kind: 'sync', state: 'succeeded' }],
    };
    const queued = { ...idle, recent: [{ id: 7, kind: 'sync', state: 'queued' }, ...idle.recent] };
    const ended = { ...idle, recent: [{ id: 7, kind: 'sync', state: 'succeeded' }, ...idle.recent] };
    expect(finishedSince(idle, idle)).toBe(false);
    expect(finishedSince(idle, queued)).toBe(false);
    expect(finishedSince(idle, ended)).toBe(true);
    expect(finishedSince(queued, ended)).toBe(true);
    expect(finishedSince(ended, ended)).toBe(false);
  });
});

describe('schedules and exact sizes', () => {
  it('says an interval as the CLI takes it, and bytes to the byte', () => {
    expect([900, 7200, 172_800, 90, 0].map(formatEvery)).toEqual(['15m', '2h', '2d', '90s', '0s']);
    expect(exactBytes(6_291_456)).toBe('6,291,456 bytes');
    expect(exactBytes(1)).toBe('1 byte');
  });
});

describe('jobProgress', () => {
  it('says bytes for the jobs that move or read them, counts for the others', () => {
    expect(jobProgress({ kind: 'sync', progressDone: 204_800, progressTotal: 204_800 })).toBe(
      '200 KiB / 200 KiB',
    );
    expect(jobProgress({ kind: 'gc', progressDone: 3, progressTotal: 10 })).toBe('3 / 10');
    expect(jobProgress({ kind: 'transfer', progressDone: 0, progressTotal: 0 })).toBe('—');
  });
});

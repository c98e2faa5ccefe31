/** Small statistics for noisy machines: medians and ranges, never means. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function maxOf(xs: readonly (number | undefined)[]): number | undefined {
  const d = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return d.length ? Math.max(...d) : undefined;
}

export const MiB = 2 ** 20;

export function fmtBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (a >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (a >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** A text table with columns padded to their widest cell; numbers right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (/^[-\d.×x(]/.test(c) && i > 1 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

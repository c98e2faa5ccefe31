/** Human output: aligned tables, sizes in binary units. `--json` bypasses all of it. */

/**
 * A reader that went away (`ingot image list | head -1`) ends the command quietly, as the
 * tools it is piped to expect, instead of an EPIPE stack trace. Whatever the command was
 * doing on a server goes on there (a job is the server's work).
 */
export function endQuietlyOnClosedPipe(exit: (code: number) => never = process.exit): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      exit(0);
    });
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

export function printFields(fields: readonly (readonly [string, string])[]): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  process.stdout.write(`${fields.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n')}\n`);
}

/** "1 chunk", "2 chunks", "1 entry" (with `many` "entries"): a number and its noun, agreeing. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[u]}`;
}

export function formatRate(bytes: number, seconds: number): string {
  return seconds > 0 ? `${formatBytes(bytes / seconds)}/s` : '-';
}

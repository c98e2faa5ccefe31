/**
 * JSON lines files, streamed both ways: rows are written a buffer at a time and read a line
 * at a time, so a table of any size costs a page of memory.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { IngotError } from '../core/errors.js';

export type Row = Record<string, unknown>;

/** Written out when the buffer passes this many characters. */
const FLUSH_AT = 1 << 20;

/** Writes one JSON object a line to `file` (mode 0600); returns how many rows it wrote. */
export async function writeJsonl(file: string, rows: AsyncIterable<Row>): Promise<number> {
  const out = await open(file, 'w', 0o600);
  let n = 0;
  let buf = '';
  try {
    for await (const row of rows) {
      buf += `${JSON.stringify(row)}\n`;
      n++;
      if (buf.length >= FLUSH_AT) {
        await out.write(buf);
        buf = '';
      }
    }
    if (buf) await out.write(buf);
  } finally {
    await out.close();
  }
  return n;
}

/** The rows of `file`, one a line (blank lines skipped); a line that is not an object is refused. */
export async function* readJsonl(file: string): AsyncGenerator<Row> {
  const input = createReadStream(file);
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let at = 0;
  try {
    for await (const line of lines) {
      at++;
      if (!line) continue;
      const row = parseRow(line);
      if (row === undefined) {
        throw new IngotError('INVALID_ARGUMENT', `${file}:${at}: the line is not a JSON row object`, {
          hint: 'the copy is damaged; take it again from the server; nothing was changed',
        });
      }
      yield row;
    }
  } finally {
    // A reader that stops early (a bad line, a failed insert) lets the file go at once.
    input.destroy();
  }
}

function parseRow(line: string): Row | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Row) : undefined;
  } catch {
    return undefined;
  }
}

/** `rows` in arrays of up to `size`. */
export async function* batches<T>(rows: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const r of rows) {
    batch.push(r);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

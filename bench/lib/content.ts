import type { FileHandle } from 'node:fs/promises';
import { RandomBytes, Rng } from './prng.js';

/**
 * File contents for the generated trees, from seeded generators. Three kinds, as in a real
 * root file system: text (configs, scripts, docs; compresses ~3x), data (already compressed:
 * .gz, .mo, images; does not compress) and binaries (code mixed with tables and padding;
 * compresses ~2x).
 */
export type ContentKind = 'text' | 'data' | 'binary';

let vocabulary: Buffer[] | undefined;

function words(): Buffer[] {
  if (vocabulary) return vocabulary;
  const rng = new Rng('vocabulary');
  const letters = 'etaoinshrdlcumwfgypbvkjxqz_';
  const list: Buffer[] = [];
  for (let i = 0; i < 4000; i++) {
    const len = rng.int(2, 11);
    let w = '';
    // Skewed letter choice, as in natural text.
    for (let j = 0; j < len; j++) w += letters[Math.floor(letters.length * rng.next() ** 2)];
    list.push(Buffer.from(w));
  }
  vocabulary = list;
  return list;
}

const PUNCT = [
  Buffer.from(' '),
  Buffer.from(' '),
  Buffer.from(' '),
  Buffer.from(', '),
  Buffer.from('. '),
  Buffer.from(' = '),
  Buffer.from('\n'),
  Buffer.from('\n    '),
];

function text(seed: string, size: number): Buffer {
  const rng = new Rng(seed);
  const vocab = words();
  const out = Buffer.alloc(size);
  let pos = 0;
  while (pos < size) {
    // Zipf-like word frequencies: low indices much more often.
    const w = vocab[Math.floor(vocab.length * rng.next() ** 3)] ?? vocab[0];
    const p = PUNCT[rng.int(0, PUNCT.length)] ?? PUNCT[0];
    if (!w || !p) break;
    pos += w.copy(out, pos);
    if (pos < size) pos += p.copy(out, pos);
  }
  return out;
}

function binary(seed: string, size: number): Buffer {
  const rng = new Rng(seed);
  const rand = new RandomBytes(seed);
  const out = Buffer.alloc(size);
  let pos = 0;
  while (pos < size) {
    const len = Math.min(size - pos, rng.int(64, 2048));
    const mode = rng.next();
    if (mode < 0.5)
      rand.take(len).copy(out, pos); // code: high entropy
    else if (mode < 0.8) {
      const pattern = rand.take(rng.int(4, 32)); // tables: repeated records
      for (let i = 0; i < len; i++) out[pos + i] = pattern[i % pattern.length] ?? 0;
    } // else padding: zeros
    pos += len;
  }
  return out;
}

export function makeContent(kind: ContentKind, seed: string, size: number): Buffer {
  if (kind === 'text') return text(seed, size);
  if (kind === 'binary') return binary(seed, size);
  return new RandomBytes(seed).take(size);
}

/**
 * A new version of a file: every 256-byte window gets one byte changed (printable stays
 * printable), and the size moves by up to ±2%. Nothing of the old content survives at chunk
 * granularity, so the whole new file counts as changed; its compressibility is kept.
 */
export function mutate(old: Buffer, seed: string): Buffer {
  const rng = new Rng(seed);
  const delta = Math.round(old.length * (rng.next() * 0.04 - 0.02));
  const size = Math.max(1, old.length + delta);
  const out = Buffer.alloc(size);
  old.copy(out, 0, 0, Math.min(old.length, size));
  if (size > old.length) new RandomBytes(seed).take(size - old.length).copy(out, old.length);
  for (let w = 0; w < size; w += 256) {
    const i = w + rng.int(0, Math.min(256, size - w));
    const b = out[i] ?? 0;
    out[i] = b >= 0x20 && b < 0x7f ? 0x61 + rng.int(0, 26) : rng.int(0, 256);
  }
  return out;
}

/** Writes all of `buf` (FileHandle.write may write less than asked). */
export async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

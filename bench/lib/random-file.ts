import { createReadStream } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAll } from './content.js';
import { readMeta, writeMeta } from './meta.js';
import { RandomBytes, Rng } from './prng.js';
import { bash } from './proc.js';

/**
 * Input (a): a pseudo-random file and its v2.
 *
 * v1: `openssl enc -aes-128-ctr` over zeros, cut to size: fast and the same bytes everywhere.
 * v2: 1% of v1's 4 KiB blocks (chosen by a seeded PRNG) rewritten with new random bytes, and
 *     8 MiB of new random bytes inserted in the middle (off a block boundary, at size/2 + 2 KiB).
 * The true change is what a perfect delta would have to carry: rewritten + inserted bytes.
 */

const BLOCK = 4096;
const INSERT_BYTES = 8 * 2 ** 20;
const GENERATOR = 'random-file/1';

export interface FileInput {
  readonly kind: 'file';
  readonly v1: string;
  readonly v2: string;
  readonly v1Bytes: number;
  readonly v2Bytes: number;
  readonly rewrittenBlocks: number;
  readonly insertedBytes: number;
  readonly insertAt: number;
  /** rewritten + inserted bytes. */
  readonly trueChange: number;
}

export async function makeFileInput(
  dataDir: string,
  bytes: number,
  log: (s: string) => void,
): Promise<FileInput> {
  const dir = join(dataDir, `file-${bytes}`);
  await mkdir(dir, { recursive: true });
  const metaPath = join(dir, 'meta.json');
  const cached = await readMeta<FileInput>(metaPath, { generator: GENERATOR, v1Bytes: bytes });
  if (cached) {
    log(`file input: reusing ${dir}`);
    return { ...cached, v1: join(dir, 'v1.bin'), v2: join(dir, 'v2.bin') };
  }
  const v1 = join(dir, 'v1.bin');
  const v2 = join(dir, 'v2.bin');
  log(`file input: writing ${bytes} pseudo-random bytes to ${v1}`);
  // head closes the pipe early, so openssl dies of SIGPIPE: check the size instead of the status.
  await bash(
    'set +o pipefail; openssl enc -aes-128-ctr -nosalt -pass pass:ingot -in /dev/zero 2>/dev/null | head -c "$1" > "$2"',
    [String(bytes), v1],
  );
  if ((await stat(v1)).size !== bytes)
    throw new Error(`openssl wrote ${(await stat(v1)).size} bytes, not ${bytes}`);

  const blocks = bytes / BLOCK;
  const rewritten = new Rng('file-v2-blocks').sample(blocks, Math.floor(blocks / 100));
  const insertAt = Math.floor(bytes / 2 / BLOCK) * BLOCK + BLOCK / 2;
  log(
    `file input: writing v2 (${rewritten.length} blocks rewritten, ${INSERT_BYTES} bytes inserted at ${insertAt})`,
  );
  await writeV2(v1, v2, rewritten, insertAt);
  const input: FileInput = {
    kind: 'file',
    v1,
    v2,
    v1Bytes: bytes,
    v2Bytes: bytes + INSERT_BYTES,
    rewrittenBlocks: rewritten.length,
    insertedBytes: INSERT_BYTES,
    insertAt,
    trueChange: rewritten.length * BLOCK + INSERT_BYTES,
  };
  await writeMeta(metaPath, { generator: GENERATOR, ...input });
  return input;
}

async function writeV2(
  v1: string,
  v2: string,
  rewritten: readonly number[],
  insertAt: number,
): Promise<void> {
  const blockBytes = new RandomBytes('file-v2-blocks');
  const insertBytes = new RandomBytes('file-v2-insert');
  const out = await open(v2, 'w');
  try {
    let pos = 0; // offset in v1 of the start of `buf`
    let next = 0; // index into rewritten
    // highWaterMark is a multiple of BLOCK, so every read starts on a block boundary.
    for await (const chunk of createReadStream(v1, { highWaterMark: 256 * BLOCK })) {
      const buf = chunk as Buffer;
      const end = pos + buf.length;
      for (; next < rewritten.length && (rewritten[next] ?? 0) * BLOCK < end; next++) {
        const off = (rewritten[next] ?? 0) * BLOCK - pos;
        blockBytes.take(BLOCK).copy(buf, off);
      }
      if (insertAt >= pos && insertAt < end) {
        await writeAll(out, buf.subarray(0, insertAt - pos));
        await writeAll(out, insertBytes.take(INSERT_BYTES));
        await writeAll(out, buf.subarray(insertAt - pos));
      } else {
        await writeAll(out, buf);
      }
      pos = end;
    }
  } finally {
    await out.close();
  }
}

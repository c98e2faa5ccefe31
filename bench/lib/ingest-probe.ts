// The ingest floor: the least a verifying, storing ingest in Node can do on this machine.
// Node only, no Ingot code: read the input once in 4 MiB reads, SHA-256 every byte on two
// worker threads (each 64 KiB piece, as chunks are hashed one by one), and write it to a
// fresh file with one fdatasync at the end. Without OUT (the v2 "mostly known" case) it
// reads and hashes only. Blocks are SharedArrayBuffers, so the workers hash them in place;
// a block is read again once its hash and its write are both done.
//
//   node bench/lib/ingest-probe.ts IN [OUT]   -> prints {"bytes":N,"seconds":S} on stdout
//
// Run by plain Node (type stripping), so its start-up is counted as the CLI's is.
import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

const BLOCK = 4 * 2 ** 20;
const BLOCKS = 8;
const WORKERS = 2;
const PIECE = 64 * 1024;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, sab, length, piece }) => {
  const bytes = new Uint8Array(sab, 0, length);
  let x = 0;
  for (let at = 0; at < length; at += piece) {
    x ^= createHash('sha256').update(bytes.subarray(at, Math.min(length, at + piece))).digest()[0];
  }
  parentPort.postMessage({ id, x });
});
`;

async function main(): Promise<void> {
  const [input, output] = process.argv.slice(2);
  if (!input) throw new Error('usage: ingest-probe.ts IN [OUT]');
  const t0 = process.hrtime.bigint();
  const workers = Array.from({ length: WORKERS }, () => new Worker(WORKER_SOURCE, { eval: true }));
  const waiting = new Map<number, () => void>();
  for (const w of workers)
    w.on('message', (m: { id: number }) => {
      waiting.get(m.id)?.();
      waiting.delete(m.id);
    });
  const src = await open(input, 'r');
  const dst = output ? await open(output, 'wx') : undefined;
  const free: Buffer[] = Array.from({ length: BLOCKS }, () => Buffer.from(new SharedArrayBuffer(BLOCK)));
  const busy = new Set<Promise<void>>();
  let pos = 0;
  let next = 0;
  let writes: Promise<unknown> = Promise.resolve();
  for (;;) {
    while (free.length === 0) await Promise.race(busy);
    const buf = free.pop() as Buffer;
    const { bytesRead } = await src.read(buf, 0, BLOCK, pos);
    if (bytesRead === 0) {
      free.push(buf);
      break;
    }
    const at = pos;
    pos += bytesRead;
    const id = next++;
    const hashed = new Promise<void>((resolve) => {
      waiting.set(id, resolve);
      (workers[id % WORKERS] as Worker).postMessage({ id, sab: buf.buffer, length: bytesRead, piece: PIECE });
    });
    // Writes go in order, one at a time, as a store appends to its pack.
    writes = writes.then(() => dst?.write(buf, 0, bytesRead, at));
    const written = writes;
    const done: Promise<void> = Promise.all([hashed, written]).then(() => {
      busy.delete(done);
      free.push(buf);
    });
    busy.add(done);
  }
  await Promise.all(busy);
  await writes;
  if (dst) {
    await dst.datasync();
    await dst.close();
  }
  await src.close();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await Promise.all(workers.map((w) => w.terminate()));
  process.stdout.write(`${JSON.stringify({ bytes: pos, seconds })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`ingest-probe: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});

/**
 * Child process for src/store/segment-chunk-store.test.ts: one node of a shared-directory
 * store. argv: root, catalog URL, node name, chunk count. It builds its chunks (half of them
 * the same on every node, half its own), prints "ready", waits for a line on stdin so all
 * nodes start together, stores them in batches of 16 and prints its counts as JSON.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Digest } from '../../src/core/manifest.js';
import { digestOf, textChunk } from '../../src/store/chunk-store.suite.js';
import { encodeChunk } from '../../src/store/compression.js';
import { openSharedStore } from './shared-store.js';

const [root, url, node, count] = process.argv.slice(2);
if (!root || !url || !node || !count) throw new Error('usage: segment-writer-child ROOT URL NODE COUNT');
const { store, close } = await openSharedStore(root, url, { node });
const items: { digest: Digest; chunk: Awaited<ReturnType<typeof encodeChunk>> }[] = [];
for (let i = 0; i < Number(count); i++) {
  const raw = i % 2 === 0 ? textChunk(20_000, `common-${i}`) : randomBytes(20_000);
  items.push({ digest: digestOf(raw), chunk: await encodeChunk(raw) });
}
process.stdout.write('ready\n');
await new Promise((done) => createInterface({ input: process.stdin }).once('line', done));
let stored = 0;
let present = 0;
for (let i = 0; i < items.length; i += 16) {
  const r = await store.putManyEncoded(items.slice(i, i + 16));
  stored += r.stored;
  present += r.present;
}
process.stdout.write(`${JSON.stringify({ stored, present, digests: items.map((i) => i.digest) })}\n`);
await close();

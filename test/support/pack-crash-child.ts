/**
 * Child process for the kill -9 test of src/store/pack-chunk-store.test.ts: opens the pack store at
 * argv[2] and writes batches of random chunks forever, printing one line per acknowledged
 * batch ("ack <digest> <digest> ..."), until the test kills it with SIGKILL.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Digest } from '../../src/core/manifest.js';
import { PackChunkStore } from '../../src/store/pack-chunk-store.js';

const root = process.argv[2];
if (!root) throw new Error('usage: crash-child <store root>');
const store = await PackChunkStore.open(root, { maxPackBytes: 4 * 2 ** 20 });
process.stdout.write(`open ${JSON.stringify(store.recovery)}\n`);
// Four writers at once, as concurrent uploads would be, so that a kill lands in the middle
// of appends (group commits, writes, fdatasyncs) rather than between them.
await Promise.all(
  [0, 1, 2, 3].map(async () => {
    for (;;) {
      const items = Array.from({ length: 8 }, () => {
        const payload = randomBytes(1024 + Math.floor(Math.random() * 64 * 1024));
        const digest = createHash('sha256').update(payload).digest('hex') as Digest;
        return { digest, chunk: { encoding: 'raw' as const, payload } };
      });
      await store.putManyEncoded(items);
      process.stdout.write(`ack ${items.map((i) => i.digest).join(' ')}\n`);
    }
  }),
);

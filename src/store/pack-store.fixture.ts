import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { digestOf } from './chunk-store.suite.js';
import { PackChunkStore, type PackChunkStoreOptions } from './pack-chunk-store.js';

/** Shared by the pack store's tests: temporary stores, closed and removed after each test. */

const dirs: string[] = [];
const opened: PackChunkStore[] = [];
export async function tempRoot(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ingot-pack-'));
  dirs.push(dir);
  return join(dir, 'store');
}
/** Opens a store that is closed after the test even when the test fails. */
export async function openStore(root: string, opts?: PackChunkStoreOptions): Promise<PackChunkStore> {
  const store = await PackChunkStore.open(root, opts);
  opened.push(store);
  return store;
}
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

export function rawItem(size: number): { digest: Digest; chunk: { encoding: 'raw'; payload: Buffer } } {
  const payload = randomBytes(size);
  return { digest: digestOf(payload), chunk: { encoding: 'raw', payload } };
}

/** Every indexed chunk reads back verified; returns how many there are. */
export async function verifyAll(store: PackChunkStore): Promise<number> {
  let n = 0;
  for await (const c of store.list()) {
    expect(digestOf(await store.get(c.digest))).toBe(c.digest);
    n++;
  }
  return n;
}

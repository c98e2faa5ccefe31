/** Helpers for tests with several real servers that peer with each other. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { IngotServer } from './ingot.js';
import { tempDir } from './ingot.js';

export interface ImageJson {
  name: string;
  digest: string;
  state: string;
  origin: string;
  receivedFrom: string | null;
  imageType: string;
  size: number;
  parentName: string | null;
}

export interface TransferJson {
  jobId: number;
  direction: string;
  peer: string;
  image: string;
  state: string;
  outcome: string | null;
  bytesTotal: number;
  bytesPresent: number;
  wireBytes: number;
  chunksTotal: number;
  chunksSent: number;
  attempts: number;
  error: string | null;
  rate: number | null;
}

const work = tempDir('ingot-peers-');

/** Writes `server`'s server-data file and returns its path. */
export async function exportServer(server: IngotServer, name: string): Promise<string> {
  const file = join(work, `${name}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  const r = await server.cli(['export', 'server', '--serverdata', file]);
  expect(r.code, r.stderr).toBe(0);
  return file;
}

/** The seed's procedure: each exports, the other registers it. */
export async function pair(
  a: { server: IngotServer; name: string },
  b: { server: IngotServer; name: string },
) {
  const fa = await exportServer(a.server, a.name);
  const fb = await exportServer(b.server, b.name);
  const r1 = await b.server.cli(['register', 'server', '--server', a.name, '--serverdata', fa]);
  expect(r1.code, r1.stderr).toBe(0);
  const r2 = await a.server.cli(['register', 'server', '--server', b.name, '--serverdata', fb]);
  expect(r2.code, r2.stderr).toBe(0);
}

export async function replicasFrom(server: IngotServer, peer: string): Promise<string[]> {
  const images = await server.json<ImageJson[]>(['query', 'image', '--server', peer]);
  return images.map((i) => i.name).sort();
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (v: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!done(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 150));
    last = await probe();
  }
  return last;
}

/** Waits until `server` has no queued or running transfer. */
export async function settled(server: IngotServer): Promise<TransferJson[]> {
  return waitFor(
    'transfers to settle',
    () => server.json<TransferJson[]>(['transfers']),
    (ts) => ts.every((t) => t.state === 'succeeded' || t.state === 'failed' || t.state === 'cancelled'),
  );
}

export function writeJson(value: unknown): string {
  const file = join(work, `data-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

export function workDir(): string {
  return work;
}

/** The chunk-stream bytes `server` has exchanged with `peer` in one direction, by its own metrics. */
export async function wireBytes(
  server: IngotServer,
  peer: string,
  direction: 'sent' | 'received',
): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = new RegExp(
    `^ingot_peer_wire_bytes_total\\{[^}]*peer="${peer}"[^}]*direction="${direction}"[^}]*\\} (\\d+)`,
    'm',
  );
  // NaN when there is no such line: no comparison passes on a counter that is not there.
  return Number(line.exec(text)?.[1] ?? Number.NaN);
}
